"""Shared fixtures: workspaces filled with the reference solutions, and a way to check one file.

Every check in the suite runs with one seed (its random weights and inputs): 1234, or
$GPT2TUTOR_TEST_SEED. It reaches the checks run through the CLI too, as $GPT2TUTOR_SEED. A failing
test's report names the seed and the command that replays it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gpt2tutor.checking.results import StepOutcome
from gpt2tutor.checking.runner import run_checks
from gpt2tutor.registry import STEPS, Step, get_step

VARIANTS = Path(__file__).parent / "variants"
TEST_SEED_ENV = "GPT2TUTOR_TEST_SEED"
try:
    SEED = int(os.environ.get(TEST_SEED_ENV) or 1234)
except ValueError:
    raise pytest.UsageError(f"{TEST_SEED_ENV} must be a whole number, not {os.environ[TEST_SEED_ENV]!r}") from None


def replay(nodeid: str = "") -> str:
    return f"{TEST_SEED_ENV}={SEED} python -m pytest {nodeid}".rstrip()


def pytest_sessionstart(session: pytest.Session) -> None:
    """On a machine where MAX never ran, compile its kernels once up front (~8 min on 2 cores).

    The tutor's background process is switched off for the suite (GPT2TUTOR_BACKGROUND=0), so no test leaves a
    compile or a spare running behind it; the checks' kernel batches are compiled once up front, in the
    foreground, and every check process loads them. tests/test_perf_infra.py turns the background process on
    in a cache of its own.
    """
    from gpt2tutor import kernels
    from gpt2tutor.checking.runner import SEED_ENV
    from gpt2tutor.maxenv import child_environment, full_cache_compiled, mojo_packages

    mojo_packages()  # in a new environment, one process builds MAX's Mojo package before the tests import it

    os.environ[kernels.BACKGROUND_SWITCH] = "0"
    os.environ.pop(kernels.ENV_SWITCH, None)
    os.environ[SEED_ENV] = str(SEED)  # the checks the CLI runs, in this process and in the ones it starts

    if not full_cache_compiled():
        print("\nMAX's kernel cache is cold: running `max warm-interpreter-cache` once (~8 min on 2 cores)")
        subprocess.run(["max", "warm-interpreter-cache"], check=True)
    if kernels.missing(kernels.batches()):
        print("\nThe checks' kernel batches are not compiled: compiling them once (~4 min on 2 cores)")
        env = {**child_environment(), kernels.BACKGROUND_SWITCH: "1"}
        subprocess.run([sys.executable, "-m", "gpt2tutor.background"], check=True, env=env)


def pytest_report_header(config: pytest.Config) -> str:
    return f"checks seed: {SEED} (replay: {replay()})"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call):
    report = (yield).get_result()
    if report.failed:
        report.sections.append(("checks seed", f"the checks ran with seed {SEED}; replay: {replay(item.nodeid)}"))


def write_solutions(exercises: Path, upto: int = len(STEPS)) -> None:
    exercises.mkdir(parents=True, exist_ok=True)
    for step in STEPS[:upto]:
        (exercises / step.filename).write_text(step.solution(), encoding="utf-8")


class Bench:
    """One exercises folder and a spare check process always started ahead, for tests that check many files
    one after the other (tests/test_variants.py): each check still runs in a fresh process of its own, but the
    next one imports MAX while this one runs."""

    def __init__(self, root: Path):
        from gpt2tutor.checking.runner import SpareChecker

        self.exercises = root / "exercises"
        write_solutions(self.exercises)
        self.checker = SpareChecker(self.exercises, ahead=True)

    def check(self, step: Step, source: str, *, timeout: float = 120) -> StepOutcome:
        for s in STEPS:  # the solutions, and this file
            path = self.exercises / s.filename
            text = source if s == step else s.solution()
            if not path.exists() or path.read_text("utf-8") != text:
                path.write_text(text, encoding="utf-8")
        return self.checker.run([step], timeout=timeout, seed=SEED)[0]

    def close(self) -> None:
        self.checker.close()


@pytest.fixture(scope="session")
def bench(tmp_path_factory):
    found = Bench(tmp_path_factory.mktemp("bench"))
    yield found
    found.close()


def check_file(tmp_path: Path, step: Step | int, source: str, *, timeout: float = 120) -> StepOutcome:
    """Checks `source` as the learner's file for `step`, with correct solutions for every other step."""
    step = get_step(step) if isinstance(step, int) else step
    exercises = tmp_path / "exercises"
    write_solutions(exercises)
    (exercises / step.filename).write_text(source, encoding="utf-8")
    return run_checks([step], exercises, timeout=timeout, seed=SEED)[0]


@pytest.fixture
def solved_exercises(tmp_path: Path) -> Path:
    exercises = tmp_path / "exercises"
    write_solutions(exercises)
    return exercises
