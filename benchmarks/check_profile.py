"""Where a warm check's time goes: each check of a step, run in this process on the reference solutions.

`check_latency.py` times whole `gpt2tutor check NN` processes; this one opens the part that is the checks' own
work, with the kernels loaded and MAX imported beforehand (as a spare check process has them). It prints each
check's median over the runs (after one warm-up run), the step's total, the floor
(`python -c "import max.experimental.nn"`, whole processes, timed in the same run) and the total as a multiple
of it. A warm `check NN` costs about the command line, plus the spare's hand-over, plus this total.

    python benchmarks/check_profile.py --steps 13 14 --runs 3
"""

from __future__ import annotations

import argparse
import importlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _procs import load  # benchmarks/ is on the path when a script here runs

from gpt2tutor import kernels, maxenv
from gpt2tutor.checking.context import CheckFailed, Context
from gpt2tutor.checking.learner import imported
from gpt2tutor.registry import STEPS, get_step


def floor(runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import max.experimental.nn"], check=True,
                       env=maxenv.child_environment())  # this process loaded MAX: see child_environment
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def profile(step_id: str, exercises: Path, runs: int) -> tuple[list[tuple[str, float]], float]:
    step = get_step(step_id)
    kernels.preload(step, emit=lambda event: None)
    checks = importlib.import_module(step.check_module).checks
    named = checks.structure_checks + checks.behaviour_checks
    times: dict[str, list[float]] = {name: [] for name, _ in named}
    totals = []
    with imported(exercises, [step]) as modules:
        learner = modules[step.module]
        for run in range(runs + 1):  # the first run warms up
            ctx = Context(step, learner, step.reference(), exercises, run, emit=lambda event: None)
            started = time.perf_counter()
            for name, fn in named:
                began = time.perf_counter()
                try:
                    fn(ctx)
                except CheckFailed as exc:
                    sys.exit(f"step {step_id}: the reference failed {name!r}: {exc}")
                if run:
                    times[name].append(time.perf_counter() - began)
            if run:
                totals.append(time.perf_counter() - started)
    return [(name, statistics.median(t)) for name, t in times.items()], statistics.median(totals)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="timed runs per step (after one warm-up run)")
    parser.add_argument("--steps", nargs="*", default=["14"], choices=[s.id for s in STEPS], metavar="NN")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    maxenv.tune_process()  # the SIGINT handler: without it each eager op costs ~40 ms (CPython issue 112559)
    maxenv.one_loop()
    print(load())
    exercises = Path(tempfile.mkdtemp(prefix="gpt2tutor-profile-"))
    try:
        for step in STEPS:
            (exercises / step.filename).write_text(step.solution())
        results = {sid: profile(sid, exercises, args.runs) for sid in args.steps}
        base = floor(max(3, args.runs))
    finally:
        shutil.rmtree(exercises, ignore_errors=True)
    for sid, (rows, total) in results.items():
        print(f"\nstep {sid}")
        for name, seconds in sorted(rows, key=lambda row: -row[1]):
            print(f"  {seconds:6.3f} s  {100 * seconds / total:4.0f} %  {name}")
        print(f"  {total:6.3f} s  total")
    print(f"\nfloor (python -c 'import max.experimental.nn'): {base:.2f} s")
    for sid, (_, total) in results.items():
        print(f"step {sid}: checks alone {total / base:.2f}x the floor")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
