"""Which frames of a traceback are the learner's: those in files under their exercises folder."""

from __future__ import annotations

import traceback
from pathlib import Path


def learner_frames(exc: BaseException, exercises: Path) -> list[traceback.FrameSummary]:
    """The frames of `exc`'s traceback that run code from the learner's files, outermost first."""
    root = exercises.resolve()
    return [f for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename).resolve().is_relative_to(root)]
