"""The first `generate` after the course, on a fresh MAX cache, at GPT-2 124M: its time to the first token.

    python benchmarks/first_generate.py [--new-tokens 20] [--keep]

A new MAX cache (XDG_CACHE_HOME pointing at a temporary folder, MODULAR_DERIVED_PATH unset, as cold_start.py
does), a 124M checkpoint with random weights (part2.py's: no download), a workspace of the reference solutions
checked as a learner would (`check --all`, which hands the background the compile of the cached model), and the
background left to finish (its kernel batches, that compile, and the kernels `generate` uses). Then, whole
commands on a pseudo-terminal, the first `generate` of each kind: greedy, sampled with top-k (as `--top-k 40
--seed 1`), and sampled with temperature and top-p. Each prints its own time to the first token (from the
prompt going in, after loading and compiling: the figure `generate` shows); the command's start to the first
token printed is shown beside it.

The baseline, measured after it in the same cache: the same three with GPT2TUTOR_KERNELS=0, which is what
`generate` did before it loaded the compiled kernel batches (MAX compiles each eager target it meets on its own,
in front of the learner). The treatment runs first: it loads whole batches and compiles no target of its own, so
the baseline's targets are still cold. Ends with the ratio. Nothing is asserted. Minutes of CPU: the kernel
batches and the 124M graph compile from nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _procs import load, tutor  # benchmarks/ is on the path when a script here runs
from part2 import PROMPT, checkpoint, on_pty, wait_for_background

KINDS = {"greedy": ["--greedy"], "top-k sampled": ["--top-k", "40", "--seed", "1"],
         "top-p sampled": ["--temperature", "0.8", "--top-p", "0.9", "--seed", "2"]}
SHOWN = re.compile(r"first token after ([0-9.]+) s")
COMPILED = re.compile(r"compiled in ([0-9.]+) s")


def first_generates(ws: Path, model: Path, env: dict, new_tokens: int) -> dict[str, tuple]:
    """Each kind's first `generate`: (its own time to the first token, command start -> first token printed)."""
    found = {}
    for name, extra in KINDS.items():
        when, text, proc = on_pty(["generate", PROMPT, "--model", str(model), "-n", str(new_tokens), *extra], ws,
                                  lambda t: PROMPT in t, drain=True, env=env)
        code = proc.wait()
        shown, compiled = SHOWN.search(text), COMPILED.search(text)
        found[name] = (float(shown.group(1)) if shown else None, when)
        print(f"    {name:14} first token after {found[name][0]} s (command start -> first token "
              f"{when if when is None else round(when, 1)} s, of which the model's compile, from MAX's cache, "
              f"{compiled.group(1) if compiled else '?'} s; exit {code}) · {load()}", flush=True)
        if code != 0:
            print(text[-1500:])
    return found


def stop_background(cache: Path) -> None:
    """Ends the background process of this cache (it may be keeping a spare check process) and what it started."""
    from gpt2tutor.processes import alive, kill_tree

    for progress in cache.glob("gpt2tutor/*/progress.json"):
        try:
            pid = json.loads(progress.read_text()).get("pid")
        except (OSError, ValueError):
            continue
        if pid and alive(pid):
            kill_tree(pid)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--new-tokens", type=int, default=20)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (its path is printed)")
    args = parser.parse_args()
    print(f"The first generate after the course, fresh MAX cache, GPT-2 124M · {load()}", flush=True)
    root = Path(tempfile.mkdtemp(prefix="gpt2tutor-firstgen-"))
    try:
        env = {k: v for k, v in os.environ.items() if k not in ("MODULAR_DERIVED_PATH", "GPT2TUTOR_WORKSPACE",
                                                                "NO_COLOR", "GPT2TUTOR_KERNELS")}
        env.update(XDG_CACHE_HOME=str(root / "cache"), COLUMNS="120", TERM="xterm-256color")
        model = checkpoint(root / "gpt2-124m-random")
        ws = root / "ws"
        t0 = time.perf_counter()
        subprocess.run([*tutor(), "start", str(ws)], env=env, check=True, capture_output=True)
        from gpt2tutor.registry import STEPS

        for step in STEPS:
            (ws / "exercises" / step.filename).write_text(step.solution(), encoding="utf-8")
        done = subprocess.run([*tutor(), "check", "--all"], cwd=ws, env=env, capture_output=True, text=True)
        print(f"  start, then check --all with the reference solutions: {time.perf_counter() - t0:.0f} s "
              f"(exit {done.returncode}) · {load()}", flush=True)
        waited = wait_for_background(ws, env)
        log = Path(root / "cache").glob("gpt2tutor/kernels-*/background.log")
        print(f"  then the background's work: {waited:.0f} s more · {load()}", flush=True)
        for path in log:
            print("    " + path.read_text(errors="replace").strip().replace("\n", "\n    "))
        print("  the first generate of each kind (the kernel batches loaded):", flush=True)
        treated = first_generates(ws, model, env, args.new_tokens)
        print("  baseline, GPT2TUTOR_KERNELS=0 (no batch loaded: MAX compiles each target on first use):", flush=True)
        baseline = first_generates(ws, model, {**env, "GPT2TUTOR_KERNELS": "0"}, args.new_tokens)
        print("  time to the first token, as generate shows it (target 5 s):")
        for name in KINDS:
            new, old = treated[name][0], baseline[name][0]
            ratio = f"{old / new:.0f}x" if new and old else "-"
            print(f"    {name:14} {new} s, baseline {old} s: {ratio} faster")
        print("  (a baseline run finds the targets the baseline runs before it compiled: MAX's disk cache keeps each one;\n"
              "   the first two, greedy and then top-k sampled, are what a learner meets first)")
        if args.keep:
            print(f"  kept: {root}")
    finally:
        stop_background(root / "cache")
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
