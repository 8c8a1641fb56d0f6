"""Warm latency of `gpt2tutor check`, as a learner feels it: whole processes, on a workspace holding the
correct solutions, with MAX's cache as this machine has it.

    python benchmarks/check_latency.py [--runs 3] [--steps 02 07 12] [--watch 04 12] [--variants 12 13]

For each step it runs `gpt2tutor check NN` once to warm up (not counted: the targets are the second run
onward, unchanged file), then --runs more times, and prints min / median / max wall time. Before each
timed run it waits (up to 10 s, as a learner editing would) until the background process has a spare check
process ready (gpt2tutor/checking/spares.py), and says how many runs found one. Then `check --all`; then
the floor, a bare `python -c "import max.experimental.nn"` process timed in the same run, and each step's
median as a multiple of it (the targets: under 1x for steps 01-11 and 14, under 3x for 12-13). With --watch, the time `gpt2tutor watch NN` takes from a save to
the result. With --variants, every file of tests/variants/step_NN for those steps is checked as the
learner's file (a correct one written differently, or a named mistake; each new file is a new graph), and the
median and maximum of each kind are printed. The load average is printed with every section: other work on the machine skews the
figures, so compare them only with the load they were taken under. Nothing is asserted.

If the checks' kernel batches are not compiled in this MAX cache, it compiles them first
(`python -m gpt2tutor.background`, in the foreground) and says so. Set XDG_CACHE_HOME (and unset
MODULAR_DERIVED_PATH) to measure against another MAX cache.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _procs import load, tutor  # benchmarks/ is on the path when a script here runs

from gpt2tutor import kernels, maxenv, waiting
from gpt2tutor.checking import spares
from gpt2tutor.registry import STEPS, by_role, get_step

ENV = {**os.environ, "NO_COLOR": "1", "COLUMNS": "120", "PYTHONUNBUFFERED": "1",
       "GPT2TUTOR_GRAPHS": "0"}  # a passing 13 would queue a 124M compile beside the timings
ENV.pop("GPT2TUTOR_WORKSPACE", None)




def timed(cmd: list[str], cwd: Path) -> tuple[float, int, str]:
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=ENV, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    return time.perf_counter() - started, proc.returncode, proc.stdout + proc.stderr


def spare_ready(ws: Path, limit: float = 10.0) -> bool:
    """Waits until a spare check process is ready for this workspace (as a learner edits); whether one is."""
    where = spares.slot(ws / "exercises", ENV)
    deadline = time.monotonic() + limit
    while spares.enabled() and time.monotonic() < deadline:
        if spares.ready_record(where) is not None:
            return True
        time.sleep(0.1)
    return False


def stats(values: list[float]) -> str:
    return f"min {min(values):5.2f}  median {statistics.median(values):5.2f}  max {max(values):5.2f}"


def setup(root: Path) -> Path:
    ws = root / "ws"
    subprocess.run([*tutor(), "start", str(ws)], env=ENV, check=True, capture_output=True)
    for step in STEPS:
        (ws / "exercises" / step.filename).write_text(step.solution(), encoding="utf-8")
    # one pass records every step as passed, so each step is unlocked as for a learner who got there
    subprocess.run([*tutor(), "check", "--all"], cwd=ws, env=ENV, capture_output=True)
    return ws


def watch_latency(ws: Path, step: str, saves: int) -> list[float]:
    """Seconds from rewriting the step's file to `watch` printing its result, `saves` times."""
    import queue
    import threading

    path = ws / "exercises" / get_step(step).filename
    original = path.read_text("utf-8")
    proc = subprocess.Popen([*tutor(), "watch", step, "--force"], cwd=ws, env=ENV, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()

    def wait_for(text: str, limit: float = 300) -> None:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            try:
                if text in lines.get(timeout=1):
                    return
            except queue.Empty:
                if proc.poll() is not None:
                    raise RuntimeError(f"watch {step} ended early") from None
        raise RuntimeError(f"watch {step} never printed {text!r}")

    times = []
    try:
        wait_for(f"step {step} passes")  # the first check
        wait_for("Ctrl-C stops")  # its prompt
        time.sleep(2)  # the spare check process gets ready, as while a learner edits
        for n in range(saves):
            path.write_text(original + f"\n# edit {n}\n", encoding="utf-8")
            saved = time.perf_counter()
            wait_for(f"step {step} passes")
            times.append(time.perf_counter() - saved)
            wait_for("Ctrl-C stops")
            time.sleep(2)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        path.write_text(original, encoding="utf-8")
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="timed runs per step (after one warm-up run)")
    parser.add_argument("--steps", nargs="*", default=[s.id for s in STEPS])
    parser.add_argument("--watch", nargs="*", default=[], metavar="NN", help="also time watch re-checks of these steps")
    parser.add_argument("--variants", nargs="*", default=[], metavar="NN",
                        help="also time `check NN` on each of tests/variants/step_NN/*.py")
    args = parser.parse_args()
    steps = [get_step(s) for s in args.steps]

    print(f"gpt2tutor check latency · {platform.node()} · Python {platform.python_version()} · "
          f"MAX {maxenv.max_version()} · {os.cpu_count()} cores")
    print(f"MAX cache: {maxenv.cache_dir()} (MAX's full warm: {'yes' if maxenv.full_cache_compiled() else 'no'})")
    todo = kernels.missing(kernels.batches())
    if todo and kernels.enabled():
        print(f"The checks' kernel batches are not all compiled ({', '.join(s.name for s in todo)}): "
              f"compiling them first with `python -m gpt2tutor.background`…", flush=True)
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "gpt2tutor.background"], env=ENV, check=False)
        print(f"  done in {time.perf_counter() - started:.0f} s")
    print(f"kernel batches: {'off' if not kernels.enabled() else 'all compiled' if not kernels.missing(kernels.batches()) else 'INCOMPLETE'}")
    print(f"command: {' '.join(tutor())} check NN\n")
    other = waiting.another_installation()
    if other:  # it keeps spare check processes for its own installation only
        print(f"NOTE: the background process running now is {other}'s: no run here will find a spare (stop it, "
              "or wait for it to go idle, to measure with spares)\n")

    with tempfile.TemporaryDirectory(prefix="gpt2tutor-bench-") as tmp:
        ws = setup(Path(tmp))
        print(f"per step ({args.runs} runs each after a warm-up; {load()})")
        medians = {}
        failures = []
        floor = []
        for step in steps:
            timed([*tutor(), "check", step.id], ws)  # warm-up
            times, found = [], 0
            for _ in range(args.runs):
                found += spare_ready(ws)
                took, code, out = timed([*tutor(), "check", step.id], ws)
                times.append(took)
                if code != 0:
                    failures.append((step.id, code, out[-500:]))
                floor.append(timed([sys.executable, "-c", "import max.experimental.nn"], ws)[0])  # interleaved
            medians[step.id] = statistics.median(times)
            print(f"  check {step.id}  {stats(times)}  s  ({found}/{args.runs} runs in a spare)", flush=True)
        worst = max(medians, key=medians.get)
        print(f"  slowest median: step {worst}, {medians[worst]:.2f} s · {load()}\n")

        all_times = []
        for _ in range(max(1, args.runs // 2)):
            took, code, out = timed([*tutor(), "check", "--all"], ws)
            all_times.append(took)
            if code != 0:
                failures.append(("--all", code, out[-500:]))
        print(f"check --all ({len(all_times)} runs): {stats(all_times)}  s (target 25 s) · {load()}\n")

        base = statistics.median(floor)
        print(f"floor: python -c \"import max.experimental.nn\" ({len(floor)} runs, between the checks): "
              f"{stats(floor)}  s · {load()}")
        print("  median check / floor: " + "  ".join(f"{sid} {m / base:.2f}x" for sid, m in medians.items()))
        compiled = {by_role("conversion").id, by_role("cached_model").id}
        over = [sid for sid, m in medians.items() if m / base >= (3.0 if sid in compiled else 1.0)]
        print(f"  targets (under 1x; steps {', '.join(sorted(compiled))} under 3x): "
              + ("all met" if not over else "not met for " + ", ".join(over)))

        for sid in args.variants:
            step = get_step(sid)
            path = ws / "exercises" / step.filename
            good = path.read_text("utf-8")
            kinds: dict[str, list[float]] = {"pass": [], "named mistake": []}
            wrong, slowest = [], (0.0, "")
            try:
                for variant in sorted((Path(__file__).resolve().parents[1] / "tests" / "variants" /
                                       f"step_{step.id}").glob("*.py")):
                    source = variant.read_text("utf-8")
                    expect = source.splitlines()[0].removeprefix("# expect: ")
                    path.write_text(source, encoding="utf-8")
                    spare_ready(ws)
                    took, code, out = timed([*tutor(), "check", step.id, "--force"], ws)  # an earlier one may fail
                    kind = "pass" if expect == "pass" else "named mistake"
                    kinds[kind].append(took)
                    slowest = max(slowest, (took, variant.name))
                    if (code == 0) != (kind == "pass") or (kind != "pass" and expect.removeprefix("fail: ") not in
                                                            " ".join(out.split())):
                        wrong.append(variant.name)
            finally:
                path.write_text(good, encoding="utf-8")
            print(f"\nvariants of step {step.id} ({load()}):")
            for kind, times in kinds.items():
                if times:
                    print(f"  {kind:14} {len(times):2} files: median {statistics.median(times):5.2f}  "
                          f"max {max(times):5.2f}  s")
            print(f"  slowest: {slowest[1]} ({slowest[0]:.2f} s)")
            if wrong:
                print(f"  verdicts other than expected: {', '.join(wrong)}")
            timed([*tutor(), "check", step.id, "--force"], ws)  # the step passes again, as the others expect

        for sid in args.watch:
            try:
                times = watch_latency(ws, get_step(sid).id, args.runs)
            except RuntimeError as exc:
                print(f"\nwatch {sid}: {exc}")
                continue
            print(f"\nwatch {get_step(sid).id}: save → result ({len(times)} saves): {stats(times)}  s "
                  f"(target 2 s) · {load()}")

        if failures:
            print(f"\n{len(failures)} runs did not pass (exit code ≠ 0): the figures above are not for passing checks")
            for sid, code, tail in failures[:3]:
                print(f"--- {sid}: exit {code}\n{tail}")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
