"""How long `gpt2tutor --help` takes against `python -c "import typer"`, whole processes, in the same run.

    python benchmarks/help_speed.py [--runs 15]

The two are run in turn (typer, help, typer, help, ...) so that both see the same load, and each figure is
the median wall time of --runs processes. The target: the help within 2x of the bare import (it loads typer,
click's formatter and the command line's two light modules; no command, no rich, no API). Also printed: a bare
`python -c pass`, the floor both stand on, and the machine's load. Nothing is asserted here;
tests/test_front_door.py holds the ratio.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _procs import load, tutor

TARGET = 2.0


def wall(argv: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=120)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="processes of each kind (median taken)")
    args = parser.parse_args()

    help_cmd = [*tutor(), "--help"]
    typer_cmd = [sys.executable, "-c", "import typer"]
    floor_cmd = [sys.executable, "-c", "pass"]
    for argv in (typer_cmd, help_cmd):  # warm the file cache; not counted
        wall(argv)
    helps, typers, floors = [], [], []
    for _ in range(args.runs):
        floors.append(wall(floor_cmd))
        typers.append(wall(typer_cmd))
        helps.append(wall(help_cmd))
    h, t, f = (statistics.median(x) for x in (helps, typers, floors))
    print(f"{load()}; Python {sys.version.split()[0]}; median of {args.runs} whole processes each")
    shown = "gpt2tutor --help" if len(help_cmd) == 2 else "python -c 'main()' --help"
    for label, figure in (("python -c pass", f), ("python -c 'import typer'", t), (shown, h)):
        print(f"  {label:<26} {figure:.3f} s")
    print(f"ratio --help / import typer: {h / t:.2f} (target < {TARGET:g}); above the floor: {(h - f) / max(t - f, 1e-9):.2f}")


if __name__ == "__main__":
    main()
