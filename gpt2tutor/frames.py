"""Which frames of a traceback are the learner's (those in files under their exercises folder), and an
exception told with those frames only."""

from __future__ import annotations

import traceback
from pathlib import Path


def _theirs(filename: str | None, root: Path) -> bool:
    """Whether `filename` is a file under `root`. Python's own frozen modules are named `<frozen ...>`, which
    resolves under the working directory (the exercises folder, in a check)."""
    return bool(filename) and not filename.startswith("<") and Path(filename).resolve().is_relative_to(root)


def learner_frames(exc: BaseException, exercises: Path) -> list[traceback.FrameSummary]:
    """The frames of `exc`'s traceback that run code from the learner's files, outermost first."""
    root = exercises.resolve()
    return [f for f in traceback.extract_tb(exc.__traceback__) if _theirs(f.filename, root)]


def learner_traceback(exc: BaseException, exercises: Path) -> str:
    """The exception with only the frames from the learner's own files, each once."""
    lines = [f"  {Path(f.filename).name}, line {f.lineno}, in {f.name}" + (f"\n    {f.line}" if f.line else "")
             for f in learner_frames(exc, exercises)]
    if isinstance(exc, SyntaxError) and _theirs(exc.filename, exercises.resolve()):
        lines.append(f"  {Path(exc.filename).name}, line {exc.lineno}" + _syntax_line(exc))
        return "\n".join([*lines, f"{type(exc).__name__}: {exc.msg}"])  # the file and line are said above
    head = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    return "\n".join([*lines, head])


def _syntax_line(exc: SyntaxError) -> str:
    """The line of a syntax error, stripped, with a caret under where Python stopped."""
    raw = (exc.text or "").rstrip("\r\n")
    text = raw.lstrip()
    if not text:
        return ""
    column = (exc.offset or 0) - 1 - (len(raw) - len(text))
    caret = f"\n    {' ' * column}^" if 0 <= column <= len(text) else ""
    return f"\n    {text}{caret}"
