"""Which frames of a traceback are the learner's (those in files under their exercises folder), and an
exception told with those frames only."""

from __future__ import annotations

import traceback
from pathlib import Path


def learner_frames(exc: BaseException, exercises: Path) -> list[traceback.FrameSummary]:
    """The frames of `exc`'s traceback that run code from the learner's files, outermost first."""
    root = exercises.resolve()
    return [f for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename).resolve().is_relative_to(root)]


def learner_traceback(exc: BaseException, exercises: Path) -> str:
    """The exception with only the frames from the learner's own files."""
    lines = [f"  {Path(f.filename).name}, line {f.lineno}, in {f.name}\n    {f.line}"
             for f in learner_frames(exc, exercises)]
    if isinstance(exc, SyntaxError) and exc.filename and Path(exc.filename).resolve().is_relative_to(exercises):
        lines.append(f"  {Path(exc.filename).name}, line {exc.lineno}\n    {(exc.text or '').strip()}")
    head = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    return "\n".join([*lines, head])
