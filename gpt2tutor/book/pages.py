"""The book's HTML pages: a layout shared by all, the contents page with the learner's progress, a page per step."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from ..registry import Lesson, Step

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


@dataclass(frozen=True)
class LessonView:
    """A lesson that belongs to a command (`gpt2tutor show serve`): a page after the steps."""

    lesson: Lesson
    lesson_html: str

    @property
    def page(self) -> str:
        return page_name(self.lesson)

    @property
    def title(self) -> str:
        return self.lesson.title


def page_name(item: Step | Lesson) -> str:
    return f"{item.module}.html" if isinstance(item, Step) else f"{item.name}.html"


def _badge(status: str) -> str:
    return f'<span class="badge {escape(status)}">{escape(STATUS_LABELS.get(status, status))}</span>'


def _sidebar(views: list[StepView], lessons: list[LessonView], here: str) -> str:
    items = []
    for v in views:
        current = ' aria-current="page"' if v.page == here else ""
        items.append(f'<li class="{escape(v.status)}"><a href="{v.page}" title="{escape(v.step.title)}"{current}><span class="num">{v.step.id}</span> '
                     f'<span class="title">{escape(v.step.title)}</span></a><span class="dot" title="{escape(STATUS_LABELS[v.status])}"></span></li>')
    current_mark = ' aria-current="page"'
    more = "".join(
        f'<li><a href="{v.page}" title="{escape(v.title)}"{current_mark if v.page == here else ""}>'
        f'<span class="num">·</span> <span class="title">{escape(v.title)}</span></a></li>' for v in lessons)
    contents = ' aria-current="page"' if here == "index.html" else ""
    return (f'<nav class="sidebar" aria-label="Steps"><a class="contents" href="index.html"{contents}>Contents</a>'
            f'<ol>{"".join(items)}</ol>' + (f'<ul class="more">{more}</ul>' if more else "") + '</nav>')


def _layout(title: str, here: str, views: list[StepView], body: str, lessons: list[LessonView] = ()) -> str:
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
{_sidebar(views, list(lessons), here)}
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


def index_page(views: list[StepView], *, current: Step, workspace: str, built: str,
               lessons: list[LessonView] = ()) -> str:
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
{_more(lessons)}
<p class="meta">Your progress as it was at {escape(built)}, from the workspace <code>{escape(workspace)}</code>.
Run <code>gpt2tutor book</code> again to bring it up to date; <code>gpt2tutor list</code> shows it in the terminal.</p>
{_pager(None, (views[0].page, f"Step {views[0].step.id} · {views[0].step.title}"))}"""
    return _layout(BOOK_TITLE, "index.html", views, body, lessons)


def _more(lessons) -> str:
    if not lessons:
        return ""
    items = "".join(f'<li><a href="{v.page}">{escape(v.title)}</a> (<code>gpt2tutor show {escape(v.lesson.name)}</code>)</li>'
                    for v in lessons)
    return f'<section class="more" aria-label="More lessons"><h2>After the steps</h2><ul>{items}</ul></section>'


def lesson_page(views: list[StepView], lessons: list[LessonView], index: int) -> str:
    view = lessons[index]
    prev = (views[-1].page, f"Step {views[-1].step.id} · {views[-1].step.title}") if index == 0 else (
        lessons[index - 1].page, lessons[index - 1].title)
    nxt = ("index.html", "Contents") if index == len(lessons) - 1 else (lessons[index + 1].page, lessons[index + 1].title)
    body = f"""<p class="status">After the steps · <code>gpt2tutor show {escape(view.lesson.name)}</code></p>
<article class="lesson">
{view.lesson_html}
</article>
{_pager(prev, nxt)}"""
    return _layout(f"{view.title} — {BOOK_TITLE}", view.page, views, body, lessons)


def _hints(view: StepView) -> str:
    tiers = view.hints_html
    if not tiers:
        return ""
    if view.status == "locked":  # as in the terminal: `gpt2tutor hint` gives a locked step's hints only with --force
        return (f'<section class="hints" id="hints" aria-label="Hints"><h2>Hints</h2>'
                f'<p>This step is locked: its {len(tiers)} hints open when you reach it, here once you build the book '
                f'again and in the terminal with <code>gpt2tutor hint {view.step.id}</code> (now, only with '
                f'<code>--force</code>). The lesson above is yours to read ahead.</p></section>')
    folded = "".join(
        f'<details class="hint" id="hint-{n}"><summary>Hint {n} of {len(tiers)}</summary>'
        f'<div class="hint-body">{tier}</div></details>'
        for n, tier in enumerate(tiers, start=1))
    return (f'<section class="hints" id="hints" aria-label="Hints"><h2>Hints</h2>'
            f'<p>Stuck? Open one hint at a time, from a nudge to a near-solution. '
            f'(<code>gpt2tutor hint {view.step.id}</code> gives them in the terminal, and counts them in your '
            f'progress; here they are not counted.)</p>{folded}</section>')


def step_page(views: list[StepView], index: int, lessons: list[LessonView] = ()) -> str:
    view = views[index]
    step = view.step
    prev = ("index.html", "Contents") if index == 0 else (
        views[index - 1].page, f"Step {views[index - 1].step.id} · {views[index - 1].step.title}")
    if index < len(views) - 1:
        nxt = (views[index + 1].page, f"Step {views[index + 1].step.id} · {views[index + 1].step.title}")
    else:
        nxt = (lessons[0].page, lessons[0].title) if lessons else ("index.html", "Contents")
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
    return _layout(f"Step {step.id} · {step.title} — {BOOK_TITLE}", view.page, views, body, lessons)
