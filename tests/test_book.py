"""`gpt2tutor book`, driven through the real CLI: the pages it writes, their links, the progress they show,
the lessons they hold (checked against the Markdown sources), and the book in a real headless Chromium.

Screenshots go to tests/artifacts/book/ (gitignored): look at them after a change to the book's CSS."""

from __future__ import annotations

import json
import os
import re
import shutil
import webbrowser
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from conftest import write_solutions
from markdown_it import MarkdownIt
from typer.testing import CliRunner

from gpt2tutor.cli import app
from gpt2tutor.registry import LESSONS, STEPS, get_step
from gpt2tutor.state import load, save
from gpt2tutor.workspace import Workspace

ENV = {"GPT2TUTOR_WORKSPACE": None, "COLUMNS": "200", "NO_COLOR": "1", "GPT2TUTOR_DEBUG": None}
ARTIFACTS = Path(__file__).parent / "artifacts" / "book"
CHROMIUM = os.environ.get("GPT2TUTOR_CHROMIUM", "/usr/bin/chromium")
runner = CliRunner()
PASSED = 3


def cli(*args):
    return runner.invoke(app, [str(a) for a in args], env=ENV)


class Page(HTMLParser):
    """What the tests need of an HTML page: its links and sources, its ids, and the text of <main> and its <pre>s."""

    def __init__(self, path: Path):
        super().__init__(convert_charrefs=True)
        self.refs: list[tuple[str, str, str]] = []  # (tag, attribute, value)
        self.stylesheets: list[str] = []
        self.ids: set[str] = set()
        self.main: list[str] = []
        self.pres: list[str] = []
        self._in_main = 0
        self._pre: list[str] | None = None
        self.feed(path.read_text("utf-8"))
        self.text = " ".join("".join(self.main).split())

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for name in ("href", "src"):
            if attrs.get(name) is not None:
                self.refs.append((tag, name, attrs[name]))
        if tag == "link" and "stylesheet" in (attrs.get("rel") or ""):
            self.stylesheets.append(attrs.get("href") or "")
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        if tag == "main":
            self._in_main += 1
        if tag == "pre":
            self._pre = []
        if self._in_main and tag in ("p", "li", "td", "th", "h1", "h2", "h3", "h4", "summary", "div", "br"):
            self.main.append(" ")

    def handle_endtag(self, tag):
        if tag == "main":
            self._in_main -= 1
        if tag == "pre" and self._pre is not None:
            self.pres.append("".join(self._pre))
            self._pre = None
        if self._in_main and tag in ("p", "li", "td", "th", "h1", "h2", "h3", "h4", "summary", "div"):
            self.main.append(" ")

    def handle_data(self, data):
        if self._in_main:
            self.main.append(data)
        if self._pre is not None:
            self._pre.append(data)


def source_blocks(markdown: str) -> tuple[list[str], list[str]]:
    """A lesson source's headings and paragraphs as plain text, and its code blocks verbatim — parsed
    here with a plain CommonMark parser, independently of the book's renderer."""
    tokens = MarkdownIt("commonmark").enable("table").parse(markdown)
    texts, codes = [], []
    for i, token in enumerate(tokens):
        if token.type == "inline" and tokens[i - 1].type in ("heading_open", "paragraph_open", "th_open", "td_open"):
            parts = [c.content if c.type in ("text", "code_inline") else " " if "break" in c.type else ""
                     for c in token.children or ()]
            text = " ".join("".join(parts).split())
            if text:
                texts.append(text)
        elif token.type in ("fence", "code_block"):
            codes.append(token.content)
    return texts, codes


@pytest.fixture(scope="module")
def book(tmp_path_factory) -> Path:
    """A workspace whose first three steps pass, and its book built with --out. The passes are recorded
    as `check` records them (tests/test_cli.py runs real checks), so no MAX is needed here."""
    root = tmp_path_factory.mktemp("book") / "ws"
    assert cli("start", root).exit_code == 0
    write_solutions(root / "exercises", upto=PASSED)
    ws = Workspace(root.resolve())
    state = load(ws)
    for step in STEPS[:PASSED]:
        state.mark(step, True, ws.file_hash(step))
    save(ws, state)
    out = root.parent / "the book"  # a space in the path: links must still resolve
    result = cli("book", "--no-open", "--out", out, "-w", root)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().splitlines()[-1] == str(out / "index.html")
    return out


def pages(book: Path) -> list[Path]:
    return sorted(book.glob("*.html"))


def test_one_page_per_step_and_per_command_lesson_plus_the_index(book: Path) -> None:
    assert LESSONS and "serve" in [les.name for les in LESSONS]  # the serving lesson has its page
    assert sorted(p.name for p in pages(book)) == sorted(["index.html", *(f"step_{s.id}.html" for s in STEPS),
                                                          *(f"{les.name}.html" for les in LESSONS)])


def test_a_command_lesson_has_its_page_after_the_steps(book: Path) -> None:
    for n, les in enumerate(LESSONS):
        html = (book / f"{les.name}.html").read_text("utf-8")
        page = Page(book / f"{les.name}.html")
        texts, codes = source_blocks(les.text)
        assert texts
        for text in texts:
            assert text in page.text, f"{les.name}: {text[:80]!r} is not on its page"
        for code in codes:
            assert code in page.pres, f"{les.name}: a code block differs:\n{code}"
        prev = f"step_{STEPS[-1].id}.html" if n == 0 else f"{LESSONS[n - 1].name}.html"
        nxt = f"{LESSONS[n + 1].name}.html" if n + 1 < len(LESSONS) else "index.html"
        assert f'<a rel="prev" href="{prev}">' in html and f'<a rel="next" href="{nxt}">' in html
        assert f'href="{les.name}.html"' in (book / "index.html").read_text("utf-8")


def test_every_local_link_and_asset_resolves(book: Path) -> None:
    checked = 0
    for path in pages(book):
        for tag, attr, value in Page(path).refs:
            url = urlsplit(value)
            if url.scheme:
                assert url.scheme == "https" and tag == "a", f"{path.name}: <{tag} {attr}={value!r}>"
                continue
            target = (path.parent / unquote(url.path)).resolve() if url.path else path
            assert target.is_file(), f"{path.name}: <{tag} {attr}={value!r}> points at nothing"
            if url.fragment:
                assert url.fragment in Page(target).ids, f"{path.name}: {value!r} names a missing anchor"
            checked += 1
    assert checked >= len(pages(book)) * (len(STEPS) + 1)  # at least the side bar's links on every page
    index = (book / "assets" / "search-index.js").read_text("utf-8")
    for page, anchor in re.findall(r'"page": "([^"]+)",\s*"anchor": "([^"]*)"', index):
        assert (book / page).is_file() and (not anchor or anchor in Page(book / page).ids), (page, anchor)


def test_nothing_loads_from_the_network(book: Path) -> None:
    for path in pages(book):
        page = Page(path)
        assert page.stylesheets == ["assets/book.css", "assets/pygments.css"], path.name
        for tag, attr, value in page.refs:
            if attr == "src" or tag == "link":
                assert not urlsplit(value).scheme and not value.startswith("//"), f"{path.name}: {value}"
    for name in ("book.css", "pygments.css", "book.js"):
        text = (book / "assets" / name).read_text("utf-8")
        assert not re.search(r"@import|url\(|fetch\(|XMLHttpRequest|https?:|//[a-z]", text), name
    index = (book / "assets" / "search-index.js").read_text("utf-8")
    assert index.startswith("window.BOOK_INDEX = [") and json.loads(index.split("=", 1)[1].rstrip().rstrip(";"))


def test_the_index_shows_the_progress_from_state(book: Path) -> None:
    index = Page(book / "index.html")
    assert f"{PASSED} of {len(STEPS)} steps passed" in index.text
    rows = re.findall(r'<tr class="(\w+)"><td class="num">(\d\d)</td>', (book / "index.html").read_text())
    statuses = {sid: status for status, sid in rows}
    assert list(statuses) == [s.id for s in STEPS]
    assert [statuses[s.id] for s in STEPS[:PASSED]] == ["passed"] * PASSED
    assert statuses[STEPS[PASSED].id] == "todo"
    assert {statuses[s.id] for s in STEPS[PASSED + 1:]} == {"locked"}


def test_every_heading_paragraph_and_code_block_of_a_lesson_is_on_its_page(book: Path) -> None:
    """The lesson of every step, and the hints of every step that is not locked (as `gpt2tutor hint` gives them)."""
    for n, step in enumerate(STEPS):
        page = Page(book / f"step_{step.id}.html")
        for source in (step.lesson, *(step.hints if n <= PASSED else ())):
            texts, codes = source_blocks(source)
            assert texts or codes, step.id
            for text in texts:
                assert text in page.text, f"step {step.id}: {text[:80]!r} is not on its page"
            for code in codes:  # pictures and code, character for character
                assert code in page.pres, f"step {step.id}: a code block differs:\n{code}"


def test_a_step_page_has_the_exercise_the_check_command_the_hints_and_its_neighbours(book: Path) -> None:
    for n, step in enumerate(STEPS):
        html = (book / f"step_{step.id}.html").read_text("utf-8")
        page = Page(book / f"step_{step.id}.html")
        exercise = book.parent / "ws" / "exercises" / step.filename
        assert str(exercise) in page.text and f"gpt2tutor check {step.id}" in page.text
        tiers = re.findall(r'<details class="hint" id="hint-(\d+)"><summary>Hint \d+ of (\d+)</summary>', html)
        if n <= PASSED:
            assert tiers == [(str(i), str(len(step.hints))) for i in range(1, len(step.hints) + 1)] and tiers
        else:  # locked: its hints wait, as `gpt2tutor hint` makes them wait
            assert not tiers and f"gpt2tutor hint {step.id}" in page.text and "locked" in page.text
        prev = f"step_{STEPS[n - 1].id}.html" if n else "index.html"
        after = f"{LESSONS[0].name}.html" if LESSONS else "index.html"  # the command lessons follow the steps
        nxt = f"step_{STEPS[n + 1].id}.html" if n + 1 < len(STEPS) else after
        assert f'<a rel="prev" href="{prev}">' in html and f'<a rel="next" href="{nxt}">' in html


def test_the_default_folder_is_in_the_workspace_and_a_fresh_one_shows_no_progress(tmp_path: Path,
                                                                                  monkeypatch) -> None:
    opened: list[str] = []
    monkeypatch.setattr(webbrowser, "open", lambda url, *a, **kw: opened.append(url) or True)
    root = tmp_path / "ws"
    assert cli("start", root).exit_code == 0
    result = cli("book", "--no-open", "-w", root)
    assert result.exit_code == 0, result.output
    index = root / ".gpt2tutor" / "book" / "index.html"
    assert result.stdout.strip().splitlines()[-1] == str(index)
    assert f"0 of {len(STEPS)} steps passed" in Page(index).text
    assert opened == []
    result = cli("book", "-w", root)  # a rebuild over the old book, opened in the (stand-in) browser
    assert result.exit_code == 0, result.output
    assert opened == [index.as_uri()] and result.stdout.strip().splitlines()[-1] == str(index)


def test_bad_out_is_one_line_and_exit_2(tmp_path: Path, monkeypatch) -> None:
    root = tmp_path / "ws"
    assert cli("start", root).exit_code == 0
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    cases = {"a file": (a_file, "is a file"), "under a file": (a_file / "book", "cannot make")}
    for name, (out, words) in cases.items():
        result = cli("book", "--no-open", "--out", out, "-w", root)
        assert result.exit_code == 2, (name, result.output)
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and words in lines[0] and "Traceback" not in result.output, (name, result.stderr)
    read_only = tmp_path / "read-only"
    read_only.mkdir()
    if os.geteuid() != 0:
        read_only.chmod(0o555)
    else:  # root may write anywhere: make the book see the folder as read-only
        real_access = os.access
        monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if mode == os.W_OK and str(p).startswith(
            str(read_only)) else real_access(p, mode, **kw))
    try:
        result = cli("book", "--no-open", "--out", read_only, "-w", root)
        assert result.exit_code == 2, result.output
        assert result.stderr.count("\n") == 1 and "read-only" in result.stderr
    finally:
        read_only.chmod(0o755)
    assert a_file.read_text() == "not a folder"


# --- in a real browser ----------------------------------------------------------------------------

def _browser_or_skip():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    missing = ("playwright is not installed" if sync_playwright is None else
               f"no Chromium at {CHROMIUM} (apt-get install chromium)" if not shutil.which(CHROMIUM) else None)
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the browser test must run in CI: {missing}")
        pytest.skip(missing)
    return sync_playwright


def test_the_book_in_a_real_browser(book: Path) -> None:
    """Headless Chromium from file://: no console error, no request off the disk, hints open one at a time,
    the search finds band_part in step 02, pictures never wrap, print shows the lesson and every hint.
    Screenshots of the index, a picture, a table, the hints, the search, light and dark, narrow and print."""
    sync_playwright = _browser_or_skip()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: errors.append(f"console: {m.text}") if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
            page.on("request", lambda r: requests.append(r.url))

            def shot(name: str, at: str | None = None, **options) -> None:
                """A screenshot of the window, scrolled so that `at` is at the top."""
                if at:
                    page.eval_on_selector(at, "e => e.scrollIntoView()")
                else:
                    page.evaluate("window.scrollTo(0, 0)")
                for scheme in ("light", "dark"):
                    page.emulate_media(color_scheme=scheme)
                    page.screenshot(path=str(ARTIFACTS / f"{name}-{scheme}.png"), **options)
                page.emulate_media(color_scheme="light")

            page.goto((book / "index.html").as_uri())
            assert f"{PASSED} of {len(STEPS)} steps passed" in page.inner_text("#progress")
            page.emulate_media(color_scheme="dark")
            background = page.evaluate("getComputedStyle(document.body).backgroundColor")
            assert sum(map(int, re.findall(r"\d+", background)[:3])) < 120, background
            shot("index", full_page=True)

            page.goto((book / "step_02.html").as_uri())
            shot("step_02-top")
            shot("step_02-pictures", at="#pictures")
            pictures = page.eval_on_selector_all("pre", "els => els.map(e => getComputedStyle(e).whiteSpace)")
            assert pictures and set(pictures) == {"pre"}, pictures
            assert page.is_visible("#hint-1") and page.is_hidden("#hint-2") and page.is_hidden("#hint-3")
            assert page.is_hidden("#hint-1 .hint-body")
            page.click("#hint-1 summary")
            page.wait_for_selector("#hint-2", state="visible")
            assert page.is_visible("#hint-1 .hint-body") and page.is_hidden("#hint-2 .hint-body")
            assert page.is_hidden("#hint-3")
            assert get_step(2).hints[0].split()[0] in page.inner_text("#hint-1 .hint-body")
            shot("step_02-hints", at="#hints")

            page.fill("#search", "band_part")
            page.wait_for_selector("#search-results a")
            hits = page.eval_on_selector_all("#search-results a", "els => els.map(e => e.getAttribute('href'))")
            assert any(h.startswith("step_02.html#") for h in hits), hits
            shot("search")
            page.click("#search-results a[href^='step_02.html#']")
            page.wait_for_url(re.compile(r"step_02\.html#"))

            page.goto((book / "step_01.html").as_uri())
            shot("step_01-table", at="#the-seven-numbers")
            page.set_viewport_size({"width": 420, "height": 900})
            shot("step_01-narrow")
            page.set_viewport_size({"width": 1280, "height": 900})
            page.emulate_media(media="print")
            assert page.is_hidden(".sidebar") and page.is_hidden(".topbar") and page.is_hidden(".pager")
            last = len(get_step(1).hints)
            assert page.is_visible(f"#hint-{last} .hint-body"), "printed, every hint is open"
            page.screenshot(path=str(ARTIFACTS / "step_01-print.png"), full_page=True)
            page.pdf(path=str(ARTIFACTS / "step_01.pdf"))
        finally:
            browser.close()
    assert not errors, errors
    assert all(url.startswith("file://") for url in requests), [u for u in requests if not u.startswith("file:")]
    print(f"screenshots: {ARTIFACTS}")
