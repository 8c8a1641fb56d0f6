"""A cold machine, as a new learner meets it: MAX's cache empty, a fresh workspace.

    python benchmarks/cold_start.py [--read SECONDS] [--direct] [--keep]

MAX keeps its compiled kernels under $MODULAR_DERIVED_PATH/cache if that is set, else under
$XDG_CACHE_HOME/modular (see max/_interpreter_ops/gc_compile.py: _cache_dir); the Mojo and kernel
caches beside them follow XDG_CACHE_HOME too. This script unsets MODULAR_DERIVED_PATH and points
XDG_CACHE_HOME at an empty temporary folder, so nothing of the user's own cache is read or written.

Then, timed from the moment `gpt2tutor start` begins: `start`, the correct solutions written into the
exercises, and `check 01`, `check 02`, … `check 07` one after the other, as a learner who reads nothing
would run them (--read waits that long before the first check, as a learner reading the lesson).
It prints when each result came, and the longest time each command went without printing anything (the
commands run on a pseudo-terminal, so their live progress displays are seen as a learner sees them).
With --direct, a second cold run (another empty cache) times `start` → `check 07 --force` straight away.
With --cold-mojo, MAX's _kv_cache_ops Mojo package (built on the first import of max.experimental.nn in an
environment, inside site-packages) is moved aside for the run and put back after, as on a fresh install.

This takes minutes of CPU: run it when needed, not in a loop. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import pty
import re
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

from _procs import load, tutor  # benchmarks/ is on the path when a script here runs

from gpt2tutor.registry import STEPS

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\r")




class Session:
    def __init__(self, root: Path):
        self.root = root
        self.cache = root / "cache"
        self.cache.mkdir(parents=True)
        self.env = {k: v for k, v in os.environ.items()
                    if k not in ("MODULAR_DERIVED_PATH", "GPT2TUTOR_WORKSPACE", "NO_COLOR")}
        self.env.update(XDG_CACHE_HOME=str(self.cache), COLUMNS="110", LINES="40", TERM="xterm-256color")
        self.t0 = time.perf_counter()
        self.log = open(root / "transcript.txt", "w", encoding="utf-8")

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def run(self, *args: str, cwd: Path | None = None) -> dict:
        """Runs a tutor command on a pseudo-terminal; returns its exit code, wall time, longest silence,
        and a few of the progress lines it showed."""
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 110, 0, 0))
        started = time.perf_counter()
        proc = subprocess.Popen([*tutor(), *args], cwd=cwd or self.root, env=self.env, stdin=slave,
                                stdout=slave, stderr=slave, start_new_session=True)
        os.close(slave)
        last, silence, seen, sampled, buffer = started, 0.0, [], 0.0, ""
        self.log.write(f"\n$ gpt2tutor {' '.join(args)}   [t={self.elapsed():.1f} s]\n")
        while True:
            ready, _, _ = select.select([master], [], [], 0.5)
            now = time.perf_counter()
            if ready:
                try:
                    chunk = os.read(master, 65536).decode("utf-8", "replace")
                except OSError:
                    break
                if not chunk:
                    break
                silence, last = max(silence, now - last), now
                buffer += chunk
                text = ANSI.sub("\n", buffer)
                lines = [ln.strip() for ln in text.split("\n") if ln.strip()]
                buffer = buffer[-4000:]
                if lines and (now - sampled > 10 or not seen):
                    sampled = now
                    seen.append(f"[{now - started:5.1f} s] {lines[-1][:150]}")
                self.log.write(ANSI.sub("", chunk))
            elif proc.poll() is not None:
                break
        proc.wait()
        os.close(master)
        silence = max(silence, time.perf_counter() - last)
        return {"code": proc.returncode, "seconds": time.perf_counter() - started, "silence": silence,
                "seen": seen, "at": self.elapsed()}

    def stop_background(self) -> str:
        """Ends the background process this session started (its own process group), if it still runs."""
        for progress in self.cache.glob("gpt2tutor/*/progress.json"):
            try:
                data = json.loads(progress.read_text())
            except (OSError, ValueError):
                continue
            pid = data.get("pid")
            state = data.get("state")
            summary = f"background: {state}, tasks done {data.get('done')} in {data.get('seconds')}"
            if pid and state in ("starting", "working"):
                try:
                    os.killpg(pid, signal.SIGTERM)
                    summary += f" (still running: stopped process group {pid})"
                except ProcessLookupError:
                    pass
            return summary
        return "background: no progress file"


def report(what: str, result: dict) -> None:
    print(f"  {what:<24} exit {result['code']}  {result['seconds']:6.1f} s  (result at t={result['at']:6.1f} s; "
          f"longest silence {result['silence']:.1f} s)  {load()}", flush=True)


def learner_path(root: Path, read: float, direct: bool) -> dict:
    session = Session(root)
    ws = root / "ws"
    out = {}
    started = session.run("start", str(ws))
    report("start", started)
    for step in STEPS:
        (ws / "exercises" / step.filename).write_text(step.solution(), encoding="utf-8")
    if read:
        time.sleep(read)
    checks = ["07"] if direct else ["01", "02", "03", "04", "05", "06", "07"]
    for sid in checks:
        result = session.run("check", sid, *(["--force"] if direct else []), cwd=ws)
        report(f"check {sid}" + (" --force" if direct else ""), result)
        out[sid] = result
        if sid in ("02", "07"):
            for line in result["seen"][:12]:
                print(f"      {line}")
    print(f"  {session.stop_background()}")
    size = sum(f.stat().st_size for f in session.cache.rglob("*") if f.is_file())
    print(f"  cache written: {size / 1e6:.0f} MB under {session.cache}; transcript: {root / 'transcript.txt'}")
    session.log.close()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--read", type=float, default=0.0, help="seconds between `start` and the first check")
    parser.add_argument("--direct", action="store_true", help="also time start → `check 07 --force` on another empty cache")
    parser.add_argument("--keep", action="store_true", help="keep the temporary caches and transcripts")
    parser.add_argument("--cold-mojo", action="store_true", help="build MAX's Mojo packages afresh, as a new environment does")
    args = parser.parse_args()
    moved = None
    if args.cold_mojo:
        import importlib.util

        spec = importlib.util.find_spec("max")  # found, not imported: importing the package would build it
        built = Path(next(iter(spec.submodule_search_locations))) / "_kv_cache_ops" / "__mojocache__"
        if built.exists():
            moved = built.with_name("__mojocache__.aside")
            built.rename(moved)
    print(f"cold start · {os.cpu_count()} cores · {load()} · command: {' '.join(tutor())}")
    roots = []
    try:
        root = Path(tempfile.mkdtemp(prefix="gpt2tutor-cold-"))
        roots.append(root)
        print(f"\nlearner path: start, then check 01 … 07 in order (MAX cache: empty folder {root / 'cache'})")
        path = learner_path(root, args.read, direct=False)
        if args.direct:
            root = Path(tempfile.mkdtemp(prefix="gpt2tutor-cold-"))
            roots.append(root)
            print(f"\ndirect: start, then check 07 --force (MAX cache: empty folder {root / 'cache'})")
            direct = learner_path(root, args.read, direct=True)
        print("\nsummary")
        print(f"  start → result of check 02: {path['02']['at']:6.1f} s (target 120 s)")
        print(f"  start → result of check 07: {path['07']['at']:6.1f} s (target 240 s), checking 02 … 07 in order")
        if args.direct:
            print(f"  start → result of check 07 --force, straight away: {direct['07']['at']:6.1f} s")
        worst = max(r["silence"] for r in path.values())
        print(f"  longest time any check printed nothing: {worst:.1f} s · {load()}")
        bad = [sid for sid, r in path.items() if r["code"] != 0]
        if bad:
            print(f"  checks that did not pass: {', '.join(bad)} (see the transcript)")
            return 1
    finally:
        if not args.keep:
            for root in roots:
                shutil.rmtree(root, ignore_errors=True)
        if moved is not None:
            built = moved.with_name("__mojocache__")
            shutil.rmtree(built, ignore_errors=True)
            moved.rename(built)
    return 0


if __name__ == "__main__":
    sys.exit(main())
