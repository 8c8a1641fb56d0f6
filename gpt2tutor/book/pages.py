"""The book's HTML pages: a layout shared by all, the contents page with the learner's progress, a page per step."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from ..curriculum import Step

BOOK_TITLE = "Build GPT-2 in MAX"
STATUS_LABELS = {"locked": "locked", "todo": "to do", "passed": "passed", "changed": "changed since it passed"}


@dataclass(frozen=True)
class StepView:
    """What a page shows of one step: its status and files, as they were when the book was built."""

    step: Step
    status: str
    hints_used: int
    exercise: str
    lesson_html: str
    hints_html: tuple[str, ...]

    @property
    def page(self) -> str:
        return page_name(self.step)


def page_name(step: Step) -> str:
    return f"{step.module}.html"


def _badge(status: str) -> str:
    return f'<span class="badge {escape(status)}">{escape(STATUS_LABELS.get(status, status))}</span>'


def _sidebar(views: list[StepView], here: str) -> str:
    items = []
    for v in views:
        current = ' aria-current="page"' if v.page == here else ""
        items.append(f'<li class="{escape(v.status)}"><a href="{v.page}" title="{escape(v.step.title)}"{current}><span class="num">{v.step.id}</span> '
                     f'<span class="title">{escape(v.step.title)}</span></a><span class="dot" title="{escape(STATUS_LABELS[v.status])}"></span></li>')
    contents = ' aria-current="page"' if here == "index.html" else ""
    return (f'<nav class="sidebar" aria-label="Steps"><a class="contents" href="index.html"{contents}>Contents</a>'
            f'<ol>{"".join(items)}</ol></nav>')


def _layout(title: str, here: str, views: list[StepView], body: str) -> str:
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>{escape(title)}</title>
<link rel="stylesheet" href="assets/book.css">
<link rel="stylesheet" href="assets/pygments.css">
<script src="assets/search-index.js" defer></script>
<script src="assets/book.js" defer></script>
</head>
<body>
<header class="topbar">
  <a class="brand" href="index.html">{escape(BOOK_TITLE)}</a>
  <div class="search" role="search">
    <input id="search" type="search" placeholder="Search the lessons" aria-label="Search the lessons" autocomplete="off">
    <ol id="search-results" class="results" hidden></ol>
  </div>
</header>
<div class="frame">
{_sidebar(views, here)}
<main>
{body}
</main>
</div>
</body>
</html>
"""


def _pager(prev: tuple[str, str] | None, nxt: tuple[str, str]) -> str:
    before = f'<a rel="prev" href="{prev[0]}"><small>Previous</small>{escape(prev[1])}</a>' if prev else ""
    return (f'<nav class="pager" aria-label="Previous and next">{before}'
            f'<a rel="next" href="{nxt[0]}"><small>Next</small>{escape(nxt[1])}</a></nav>')


def index_page(views: list[StepView], *, current: Step, workspace: str, built: str) -> str:
    passed = sum(1 for v in views if v.status in ("passed", "changed"))
    total = len(views)
    next_up = ("every step passes: your GPT-2 is complete (try <code>gpt2tutor generate</code>)" if passed == total
               else f'next: <a href="{page_name(current)}">step {current.id} · {escape(current.title)}</a>')
    rows = "".join(
        f'<tr class="{escape(v.status)}"><td class="num">{v.step.id}</td>'
        f'<td><a href="{v.page}">{escape(v.step.title)}</a>{" <em>(your current step)</em>" if v.step == current and passed < total else ""}'
        f'</td><td>{_badge(v.status)}</td><td class="num">{v.hints_used} of {len(v.step.hints)}</td></tr>'
        for v in views)
    body = f"""<h1>{escape(BOOK_TITLE)}</h1>
<p class="lead">Every lesson of gpt2tutor in one book: read a step here, write it in your editor, check it in your terminal.</p>
<section class="progress" aria-label="Your progress">
  <div class="bar" role="progressbar" aria-valuemin="0" aria-valuemax="{total}" aria-valuenow="{passed}">
    <span style="width: {100 * passed / total:.1f}%"></span></div>
  <p id="progress"><strong>{passed} of {total} steps passed</strong> · {next_up}</p>
</section>
<table class="steps">
<thead><tr><th>step</th><th>title</th><th>status</th><th>hints used</th></tr></thead>
<tbody>{rows}</tbody>
</table>
<p class="meta">Your progress as it was at {escape(built)}, from the workspace <code>{escape(workspace)}</code>.
Run <code>gpt2tutor book</code> again to bring it up to date; <code>gpt2tutor list</code> shows it in the terminal.</p>
{_pager(None, (views[0].page, f"Step {views[0].step.id} · {views[0].step.title}"))}"""
    return _layout(BOOK_TITLE, "index.html", views, body)


def _hints(view: StepView) -> str:
    tiers = view.hints_html
    if not tiers:
        return ""
    folded = "".join(
        f'<details class="hint" id="hint-{n}"><summary>Hint {n} of {len(tiers)}</summary>'
        f'<div class="hint-body">{tier}</div></details>'
        for n, tier in enumerate(tiers, start=1))
    return (f'<section class="hints" id="hints" aria-label="Hints"><h2>Hints</h2>'
            f'<p>Stuck? Open one hint at a time, from a nudge to a near-solution. '
            f'(<code>gpt2tutor hint {view.step.id}</code> gives them in the terminal.)</p>{folded}</section>')


def step_page(views: list[StepView], index: int) -> str:
    view = views[index]
    step = view.step
    prev = ("index.html", "Contents") if index == 0 else (
        views[index - 1].page, f"Step {views[index - 1].step.id} · {views[index - 1].step.title}")
    nxt = ("index.html", "Contents") if index == len(views) - 1 else (
        views[index + 1].page, f"Step {views[index + 1].step.id} · {views[index + 1].step.title}")
    body = f"""<p class="status">Step {step.id} of {len(views)} · {_badge(view.status)}</p>
<article class="lesson">
{view.lesson_html}
</article>
<section class="exercise" aria-label="Your exercise">
  <h2>Your turn</h2>
  <p>Your file: <code class="path">{escape(view.exercise)}</code></p>
  <p>Check it: <code class="command">gpt2tutor check {step.id}</code></p>
</section>
{_hints(view)}
{_pager(prev, nxt)}"""
    return _layout(f"Step {step.id} · {step.title} — {BOOK_TITLE}", view.page, views, body)
