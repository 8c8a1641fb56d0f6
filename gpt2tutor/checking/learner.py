"""Importing the learner's exercise files: the one way, for the checks and for running their model.

Their files import each other by module name (`from step_07 import ...`), so the exercises folder goes
first on the import path; a file that is missing, not UTF-8, has a syntax error or raises on import is a
LearnerFileError whose message is written for the learner.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

from ..frames import learner_frames, learner_traceback
from ..registry import STEPS, Step


class LearnerFileError(Exception):
    """A learner's file can't be imported; the message says why, in their terms."""

    def __init__(self, message: str, step: Step, cause: BaseException | None = None, other_file: str | None = None):
        super().__init__(message)
        self.step = step
        self.cause = cause
        self.other_file = other_file  # the failure is in another step's file ("step_01.py"), not in this one


def _validate(step: Step, exercises: Path) -> None:
    path = exercises / step.filename
    if not path.is_file():
        raise LearnerFileError(f"{path} is missing: `gpt2tutor reset {step.id}` puts the skeleton back", step)
    try:
        source = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LearnerFileError(f"{step.filename} is not UTF-8 text (byte {exc.start} is not valid): save it as "
                               "UTF-8", step) from None
    try:
        compile(source, str(path), "exec")
    except SyntaxError as exc:
        raise LearnerFileError(f"{step.filename} has a syntax error at line {exc.lineno}: {exc.msg}\n    "
                               f"{(exc.text or '').rstrip()}", step) from None


def import_step(step: Step, exercises: Path) -> ModuleType:
    """Imports step_NN from the exercises folder (which must be on sys.path)."""
    _validate(step, exercises)
    try:
        return importlib.import_module(step.module)
    except (Exception, SystemExit) as exc:
        where = _earlier_file(exc, exercises, step)
        lead = f"importing {step.filename} failed" + (f" inside {where}, an earlier step's file" if where else "")
        raise LearnerFileError(f"{lead}:\n{learner_traceback(exc, exercises)}", step, exc, where) from None


def _earlier_file(exc: BaseException, exercises: Path, step: Step) -> str | None:
    """The other step's file the import failed in: the innermost of the learner's frames, a file with a syntax
    error, or a step's module that is not there (`No module named 'step_01'`)."""
    names = [Path(f.filename).name for f in learner_frames(exc, exercises)]
    if isinstance(exc, SyntaxError) and exc.filename:
        names.append(Path(exc.filename).name)
    if isinstance(exc, ModuleNotFoundError) and exc.name in {s.module for s in STEPS}:
        names.append(f"{exc.name}.py")
    exercises_files = {s.filename for s in STEPS}
    earlier = [n for n in names if n != step.filename and n in exercises_files]
    return earlier[-1] if earlier else None


@contextmanager
def imported(exercises: Path, steps: Iterable[Step]) -> Iterator[dict[str, ModuleType]]:
    """The learner's modules for `steps`, imported afresh from `exercises`; undone afterwards (the path and
    sys.modules), so a later workspace in the same process starts clean."""
    names = [s.module for s in steps]

    def forget() -> None:
        for name in names:
            sys.modules.pop(name, None)

    forget()  # never a stale copy from an earlier workspace in this process
    folder = str(exercises.resolve())
    sys.path.insert(0, folder)
    try:
        yield {s.module: import_step(s, exercises) for s in steps}
    finally:
        if folder in sys.path:
            sys.path.remove(folder)
        forget()
