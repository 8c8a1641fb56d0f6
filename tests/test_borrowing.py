"""A learner file that imports the tutor's reference fails its check with one line, whichever way it imports
it; importing the learner's own earlier files stays allowed. Each case runs the real check process."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import check_file, write_solutions

from gpt2tutor.checking.runner import run_checks
from gpt2tutor.registry import get_step

EIGHT = get_step(8)
BORROWING = {
    "star import": "from gpt2tutor.course.reference.step_08 import *\n",
    "importlib": ("import importlib\n\n_answer = importlib.import_module('gpt2tutor.course.reference.step_08')\n"
                  "apply_residual_connection = _answer.apply_residual_connection\n"
                  "ResidualBlock = _answer.ResidualBlock\n"),
}


def first_failure(outcome) -> str:
    return next(r.message for r in outcome.results if not r.passed)


@pytest.mark.parametrize("way", sorted(BORROWING))
def test_importing_the_reference_fails(tmp_path: Path, way: str) -> None:
    outcome = check_file(tmp_path, EIGHT, BORROWING[way])
    assert not outcome.passed
    message = first_failure(outcome)
    assert message.startswith("step_08.py imports the tutor's reference (gpt2tutor.course.reference.step_08)"), message
    assert "write your own step_08.py" in message and "\n" not in message


def test_importing_the_reference_through_an_earlier_file_fails(tmp_path: Path) -> None:
    """step_08.py imports step_07.py, which imports the reference: both fail, also checked in one process
    (where step_07 is already imported when step 08's file asks for it)."""
    exercises = tmp_path / "exercises"
    write_solutions(exercises)
    seven = get_step(7)
    (exercises / seven.filename).write_text("from gpt2tutor.course.reference.step_07 import GPT2MultiHeadAttention\n")
    (exercises / EIGHT.filename).write_text("import step_07  # noqa: F401\n" + EIGHT.solution())
    outcomes = run_checks([seven, EIGHT], exercises, timeout=120)
    assert [o.step for o in outcomes] == [seven, EIGHT] and not any(o.passed for o in outcomes)
    assert first_failure(outcomes[0]).startswith("step_07.py imports the tutor's reference (")
    assert first_failure(outcomes[1]).startswith(
        "step_08.py imports the tutor's reference through step_07.py (gpt2tutor.course.reference.step_07); "
        "write your own step_07.py"), first_failure(outcomes[1])
    alone = run_checks([EIGHT], exercises, timeout=120)[0]
    assert not alone.passed and "through step_07.py" in first_failure(alone)


def test_importing_earlier_exercise_files_is_allowed(tmp_path: Path) -> None:
    source = "import step_03\nfrom step_07 import GPT2MultiHeadAttention  # noqa: F401\n" + EIGHT.solution()
    outcome = check_file(tmp_path, EIGHT, source)
    assert outcome.passed, [r.message for r in outcome.results if not r.passed]


def test_an_import_made_while_the_guard_resolves_a_file_does_not_recurse(tmp_path: Path, monkeypatch) -> None:
    """On Python 3.12, pathlib imports ntpath on its first use, and that import came back through the guard's
    hook for the same file, without end (RecursionError in every check process). Whatever resolving a file
    imports is now let through."""
    import builtins
    import os
    import pathlib

    from gpt2tutor.checking import borrowing

    exercises = tmp_path / "exercises"
    exercises.mkdir()
    learner = str(exercises / "step_08.py")
    guard = borrowing.Guard(exercises)
    calls = []

    def importing(original):
        def resolve(*args, **kwargs):  # what pathlib does on 3.12: an import, from the file being resolved
            calls.append(1)
            if len(calls) < 50:
                guard.seen(learner, "ntpath")
            return original(*args, **kwargs)
        return resolve

    monkeypatch.setattr(os.path, "realpath", importing(os.path.realpath))
    monkeypatch.setattr(pathlib.Path, "resolve", importing(pathlib.Path.resolve))
    assert guard.learner_file(learner) == "step_08.py"
    assert len(calls) < 5, f"resolving one file came back through the hook {len(calls)} times"
    with pytest.raises(borrowing.BorrowedImport):
        guard.seen(learner, "gpt2tutor.course.reference.step_08")
    assert builtins.__import__ is not None
