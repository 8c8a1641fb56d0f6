"""Shared fixtures: workspaces filled with the reference solutions, and a way to check one file."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from gpt2tutor.checking.runner import StepOutcome, run_checks
from gpt2tutor.curriculum import STEPS, Step, get_step

VARIANTS = Path(__file__).parent / "variants"


def pytest_sessionstart(session: pytest.Session) -> None:
    """On a machine where MAX never ran, compile its kernels once up front (~8 min on 2 cores).

    The tutor's own kernel bundles and background prewarm are switched off for the suite, so no test
    leaves a compile running behind it; tests/test_perf_infra.py turns them on in a cache of its own.
    """
    from gpt2tutor.kernels import ENV_SWITCH
    from gpt2tutor.maxenv import cache_is_warm

    os.environ[ENV_SWITCH] = "0"

    if not cache_is_warm():
        print("\nMAX's kernel cache is cold: running `max warm-interpreter-cache` once (~8 min on 2 cores)")
        subprocess.run(["max", "warm-interpreter-cache"], check=True)


def write_solutions(exercises: Path, upto: int = len(STEPS)) -> None:
    exercises.mkdir(parents=True, exist_ok=True)
    for step in STEPS[:upto]:
        (exercises / step.filename).write_text(step.solution(), encoding="utf-8")


def check_file(tmp_path: Path, step: Step | int, source: str, *, timeout: float = 120) -> StepOutcome:
    """Checks `source` as the learner's file for `step`, with correct solutions for every other step."""
    step = get_step(step) if isinstance(step, int) else step
    exercises = tmp_path / "exercises"
    write_solutions(exercises)
    (exercises / step.filename).write_text(source, encoding="utf-8")
    return run_checks([step], exercises, timeout=timeout)[0]


@pytest.fixture
def solved_exercises(tmp_path: Path) -> Path:
    exercises = tmp_path / "exercises"
    write_solutions(exercises)
    return exercises
