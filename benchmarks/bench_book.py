"""How long `gpt2tutor book --no-open` takes, whole process, against `gpt2tutor show NN` (one lesson in the
terminal) measured in the same run, on a fresh workspace in a temporary folder.

    python benchmarks/bench_book.py [--runs 7]

Runs each command --runs times, interleaved (book, show, book, show, …) after one warm-up each, and prints
min / median / max wall time with the median CPU time (user + system: less swayed by other work on the
machine), the book's medians as multiples of show's, and the load average. Then the
build alone, in this process (`gpt2tutor.book.build`, imports done). Nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _procs import load, tutor  # benchmarks/ is on the path when a script here runs

from gpt2tutor.book import build
from gpt2tutor.registry import STEPS
from gpt2tutor.state import load as load_state
from gpt2tutor.workspace import Workspace

ENV = {**os.environ, "NO_COLOR": "1", "COLUMNS": "120", "GPT2TUTOR_KERNELS": "0"}
ENV.pop("GPT2TUTOR_WORKSPACE", None)


def cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def wall(args: list[str], cpu: list[float] | None = None) -> float:
    """The wall time of one run; its CPU seconds (user + system) are appended to `cpu`."""
    cpu_before, start = cpu_of_children(), time.perf_counter()
    subprocess.run(args, env=ENV, check=True, stdout=subprocess.DEVNULL)
    elapsed = time.perf_counter() - start
    if cpu is not None:
        cpu.append(cpu_of_children() - cpu_before)
    return elapsed


def summary(times: list[float], cpu: list[float] | None = None) -> str:
    text = f"min {min(times):.2f} s · median {statistics.median(times):.2f} s · max {max(times):.2f} s"
    return text + (f" · CPU median {statistics.median(cpu):.2f} s" if cpu else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="timed runs of each command (default 7)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "ws"
        subprocess.run([*tutor(), "start", str(root)], env=ENV, check=True, stdout=subprocess.DEVNULL)
        book = [*tutor(), "book", "--no-open", "-w", str(root)]
        show = [*tutor(), "show", "01", "-w", str(root)]
        wall(book), wall(show)
        times: dict[str, list[float]] = {"book": [], "show": []}
        cpu: dict[str, list[float]] = {"book": [], "show": []}
        print(f"{len(STEPS)} lessons, {args.runs} runs each; {load()}")
        for _ in range(args.runs):
            times["book"].append(wall(book, cpu["book"]))
            times["show"].append(wall(show, cpu["show"]))
        print(f"gpt2tutor book --no-open   {summary(times['book'], cpu['book'])}")
        print(f"gpt2tutor show 01 (peer)   {summary(times['show'], cpu['show'])}")
        ratio = statistics.median(times["book"]) / statistics.median(times["show"])
        cpu_ratio = statistics.median(cpu["book"]) / statistics.median(cpu["show"])
        print(f"book / show, medians       {ratio:.2f} wall, {cpu_ratio:.2f} CPU; {load()}")
        ws = Workspace(root.resolve())
        state = load_state(ws)
        builds = []
        for _ in range(args.runs):
            start = time.perf_counter()
            build(ws, state, Path(tmp) / "book")
            builds.append(time.perf_counter() - start)
        print(f"build() alone, in-process  {summary(builds)}")


if __name__ == "__main__":
    sys.exit(main())
