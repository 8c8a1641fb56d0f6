"""The book: every lesson as an offline HTML site, with the learner's progress, search and folded hints.

Built from the registry's lesson sources (the ones `gpt2tutor show` renders): nothing is copied by hand,
and every asset is a local file, so the book works from file:// with no server and no network.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from importlib import resources
from pathlib import Path

from markdown_it.token import Token

from ..registry import LESSONS, STEPS, Lesson, Step
from ..state import State
from ..workspace import Workspace
from . import markdown
from .pages import LessonView, StepView, index_page, lesson_page, page_name, step_page

ASSETS = ("book.css", "book.js")


class BookError(Exception):
    """The book can't be written where it was asked to go; the message is one line for the learner."""


def default_dir(ws: Workspace) -> Path:
    return ws.meta / "book"


def _view(ws: Workspace, state: State, step: Step, lesson: list[Token]) -> StepView:
    return StepView(step=step, status=state.status(step, ws), hints_used=state.record(step).hints_used,
                    exercise=str(ws.exercise(step)), lesson_html=markdown.to_html(lesson),
                    hints_html=tuple(markdown.to_html(markdown.parse(tier)) for tier in step.hints))


def search_index(lessons: dict[Step | Lesson, list[Token]]) -> str:
    """A script that sets `window.BOOK_INDEX`: one entry per lesson section (a fetch() of JSON fails on file://)."""
    entries = [
        {"page": page_name(item), "anchor": s.anchor, "step": item.id if isinstance(item, Step) else "",
         "title": item.title, "heading": s.heading, "text": s.text}
        for item, tokens in lessons.items() for s in markdown.sections(tokens)
    ]
    return f"window.BOOK_INDEX = {json.dumps(entries, ensure_ascii=True, indent=0)};\n"


def _prepare(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise BookError(f"{out} is a file, not a folder: give --out a folder for the book")
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / "assets").mkdir(exist_ok=True)
    except OSError as exc:
        raise BookError(f"cannot make the book's folder {out}: {exc.strerror or exc}") from None
    for folder in (out, out / "assets"):
        if not os.access(folder, os.W_OK):
            raise BookError(f"cannot write the book to {folder}: the folder is read-only")


def build(ws: Workspace, state: State, out: Path) -> Path:
    """Writes the book into `out` (index.html, a page per step, assets/); returns index.html's path."""
    out = out.expanduser().absolute()
    _prepare(out)
    lessons = {step: markdown.parse(step.lesson) for step in STEPS}
    views = [_view(ws, state, step, tokens) for step, tokens in lessons.items()]
    more = {les: markdown.parse(les.text) for les in LESSONS}
    extra = [LessonView(les, markdown.to_html(tokens)) for les, tokens in more.items()]
    current = state.current
    built = datetime.now().astimezone().strftime("%Y-%m-%d %H:%M")
    files = {
        "index.html": index_page(views, current=current, workspace=str(ws.root), built=built, lessons=extra),
        **{view.page: step_page(views, i, extra) for i, view in enumerate(views)},
        **{view.page: lesson_page(views, extra, i) for i, view in enumerate(extra)},
        "assets/pygments.css": markdown.pygments_css(),
        "assets/search-index.js": search_index({**lessons, **more}),
        **{f"assets/{name}": resources.files(__name__).joinpath("assets", name).read_text("utf-8")
           for name in ASSETS},
    }
    try:
        for name, text in files.items():
            (out / name).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise BookError(f"cannot write the book to {out}: {exc.strerror or exc}") from None
    return out / "index.html"
