"""In the check process: notices learner code importing the tutor's own modules (its reference, checks or
skeletons), so a file that borrows the answer fails its check instead of passing it.

Every import statement goes through `builtins.__import__`, cached module or not, and `importlib.import_module`
is wrapped too; the importer is told apart by its file, so the checks (which import the reference) are not
affected. An import the learner's code makes is refused with an ImportError and remembered with the file that
made it, and so is each exercise file a learner file imports: step_08.py passing through step_07.py to the
reference is found even when step_07 was imported earlier in the same process.
"""

from __future__ import annotations

import builtins
import importlib
import os
import sys
from pathlib import Path

from gpt2tutor.registry import STEPS, Step

TUTOR = "gpt2tutor"
WHAT = {"reference": "reference", "checks": "checks", "skeletons": "skeletons"}  # course folder: how it is named


class BorrowedImport(ImportError):
    """Learner code imported one of the tutor's modules."""


class Guard:
    def __init__(self, exercises: Path):
        self.exercises = exercises.resolve()
        self._root = os.path.realpath(self.exercises)
        self.borrowed: dict[str, str] = {}  # learner file name -> the first tutor module it imported
        self.uses: dict[str, set[str]] = {}  # learner file name -> the exercise files it imports
        self._files: dict[str, str | None] = {}
        self._step_modules = frozenset(s.module for s in STEPS)  # the exercise modules, by the course's names

    def learner_file(self, filename: str | None) -> str | None:
        """The exercise file's name when `filename` is one, else None."""
        if not filename:
            return None
        if filename not in self._files:
            # os.path, not pathlib: on Python 3.12 Path() imports ntpath on first use, and that import comes
            # back through this hook, for this same file, without end
            self._files[filename] = None  # and whatever this imports meanwhile is not asked about again
            try:
                path = os.path.realpath(filename)
                if os.path.dirname(path) == self._root:
                    self._files[filename] = os.path.basename(path)
            except (OSError, ValueError):
                pass
        return self._files[filename]

    def seen(self, importer: str | None, name: str) -> None:
        """An import of `name` by code in the file `importer`; raises BorrowedImport for a tutor module."""
        who = self.learner_file(importer)
        if who is None:
            return
        top = name.partition(".")[0]
        if top == TUTOR:
            self.borrowed.setdefault(who, name)
            raise BorrowedImport(f"{who} may not import the tutor's own code ({name})")
        if top in self._step_modules and (self.exercises / f"{top}.py").is_file():
            self.uses.setdefault(who, set()).add(f"{top}.py")

    def refusal(self, step: Step) -> str | None:
        """One line for the learner when the step's file, or an exercise file it builds on, borrowed."""
        todo, reached = [step.filename], [step.filename]
        while todo:
            for dep in sorted(self.uses.get(todo.pop(), ())):
                if dep not in reached:
                    reached.append(dep)
                    todo.append(dep)
        culprit = next((f for f in reached if f in self.borrowed), None)
        if culprit is None:
            return None
        module = self.borrowed[culprit]
        parts = module.split(".")
        part = parts[2] if len(parts) > 2 and parts[1] == "course" else ""
        what = f"the tutor's {WHAT[part]}" if part in WHAT else "the tutor's own code"
        via = f" through {culprit}" if culprit != step.filename else ""
        return (f"{step.filename} imports {what}{via} ({module}); write your own {culprit} instead: the model "
                f"you finish is to be yours (`gpt2tutor hint {step.id}` helps when you're stuck)")


_active: Guard | None = None


def active() -> Guard | None:
    return _active


def install(exercises: Path) -> Guard:
    """From now on in this process, watches the imports learner code in `exercises` makes."""
    global _active
    guard = _active = Guard(exercises)
    original_import, original_import_module = builtins.__import__, importlib.import_module

    def guarded_import(name, globals=None, locals=None, fromlist=(), level=0):
        if level == 0 and globals is not None:
            guard.seen(globals.get("__file__"), name)
        return original_import(name, globals, locals, fromlist, level)

    def guarded_import_module(name, package=None):
        if not name.startswith("."):
            guard.seen(sys._getframe(1).f_code.co_filename, name)
        return original_import_module(name, package)

    builtins.__import__ = guarded_import
    importlib.import_module = guarded_import_module
    return guard
