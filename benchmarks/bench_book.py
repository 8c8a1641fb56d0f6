"""How long `gpt2tutor book --no-open` takes, whole process, against `gpt2tutor show NN` (one lesson in the
terminal) measured in the same run, on a fresh workspace in a temporary folder.

    python benchmarks/bench_book.py [--runs 7]

Runs each command --runs times, interleaved (book, show, book, show, …) after one warm-up each, and prints
min / median / max wall time, the book's median as a multiple of show's, and the load average. Then the
build alone, in this process (`gpt2tutor.book.build`, imports done). Nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from gpt2tutor.book import build
from gpt2tutor.curriculum import STEPS
from gpt2tutor.state import load as load_state
from gpt2tutor.workspace import Workspace

from _procs import load, tutor  # benchmarks/ is on the path when a script here runs

ENV = {**os.environ, "NO_COLOR": "1", "COLUMNS": "120", "GPT2TUTOR_KERNELS": "0"}
ENV.pop("GPT2TUTOR_WORKSPACE", None)


def wall(args: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(args, env=ENV, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def summary(times: list[float]) -> str:
    return f"min {min(times):.2f} s · median {statistics.median(times):.2f} s · max {max(times):.2f} s"


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
        print(f"{len(STEPS)} lessons, {args.runs} runs each; {load()}")
        for _ in range(args.runs):
            times["book"].append(wall(book))
            times["show"].append(wall(show))
        print(f"gpt2tutor book --no-open   {summary(times['book'])}")
        print(f"gpt2tutor show 01 (peer)   {summary(times['show'])}")
        ratio = statistics.median(times["book"]) / statistics.median(times["show"])
        print(f"book / show, medians       {ratio:.2f}; {load()}")
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
