"""The prewarm: one background process that compiles the checks' kernel bundles (gpt2tutor.kernels) in
the order a learner meets the steps, while they read the first lesson.

`gpt2tutor start` launches it when MAX's cache lacks a bundle; `check` launches it too (a prewarm that
was killed resumes where it stopped: finished bundles are in MAX's cache and in the kernels marker)
and waits for the bundles its step needs instead of compiling the same kernels alongside it.

One prewarm per MAX cache, whatever the workspace: it holds an exclusive lock (flock, so the kernel
releases it however the process ends) and writes its progress atomically to a JSON file next to the
lock, under $XDG_CACHE_HOME/gpt2tutor/. A progress file whose lock is free belongs to a prewarm that
ended. It runs niced, in its own session (Ctrl-C in the terminal does not reach it), and ends by
itself when every bundle is compiled.

`python -m gpt2tutor.prewarm` runs it in the foreground (for a script, or to watch its log).
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import kernels, maxenv
from .files import write_atomic

NICENESS = 10  # the learner's own checks come first
MAX_IMPORT_ESTIMATE = 5.0  # seconds, from a cold disk


def state_dir() -> Path:
    return kernels.state_dir()


def progress_path() -> Path:
    return state_dir() / "progress.json"


def log_path() -> Path:
    return state_dir() / "prewarm.log"


def _lock_path() -> Path:
    return state_dir() / "lock"


def _try_lock() -> int | None:
    """The lock's file descriptor when we got it, None when a prewarm holds it."""
    folder = state_dir()
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(_lock_path(), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def running() -> bool:
    """Whether a prewarm holds the lock right now."""
    try:
        fd = _try_lock()
    except OSError:
        return False
    if fd is None:
        return True
    os.close(fd)  # closing releases it
    return False


@dataclass
class PrewarmReport:
    """What the prewarm reports; read by the CLI to show where it is."""
    state: str = "none"  # none · starting · compiling · done · failed
    pid: int | None = None
    stage: str | None = None  # the stage being compiled
    stage_started: float | None = None  # time.time()
    done: list[str] = field(default_factory=list)  # stages compiled by this run
    todo: list[str] = field(default_factory=list)  # stages this run still has to compile (the current one included)
    seconds: dict[str, float] = field(default_factory=dict)  # how long each stage took
    error: str | None = None
    alive: bool = False  # the lock is held: the process is running

    def remaining(self, until: str | None = None) -> float:
        """Estimated seconds until the stage `until` (default: every stage) is compiled, the current one
        counted from its estimate minus the time spent on it, all scaled by how fast this machine was so far."""
        est = {s.name: s.estimate for s in kernels.stages()}
        pace = 1.0
        measured = [(self.seconds[n], est[n]) for n in self.done if n in self.seconds and n in est]
        if measured:
            pace = min(4.0, max(0.25, sum(a for a, _ in measured) / max(1e-6, sum(b for _, b in measured))))
        total = 0.0
        for name in self.todo:
            cost = est.get(name, 30.0) * pace
            if name == self.stage and self.stage_started is not None:
                cost = max(cost * 0.1, cost - (time.time() - self.stage_started))
            total += cost
            if name == until:
                break
        if self.state == "starting":
            total += MAX_IMPORT_ESTIMATE
        return total


def read_progress() -> PrewarmReport:
    try:
        data = json.loads(progress_path().read_text("utf-8"))
        progress = PrewarmReport(**{k: v for k, v in data.items() if k in PrewarmReport.__dataclass_fields__})
    except (OSError, ValueError, TypeError):
        progress = PrewarmReport()
    progress.alive = running()
    return progress


def _write(progress: PrewarmReport) -> None:
    data = dict(vars(progress))
    data.pop("alive")
    write_atomic(progress_path(), json.dumps(data))


def needed() -> bool:
    """Whether some bundle (the extra one included) is not compiled yet."""
    return kernels.enabled() and bool(kernels.missing(kernels.stages()))


def launch() -> subprocess.Popen | None:
    """Starts a prewarm in the background when one is needed and none runs; returns it, else None.
    The process outlives the command that started it; its output goes to `log_path()`."""
    if not needed() or running():
        return None
    state_dir().mkdir(parents=True, exist_ok=True)
    with open(log_path(), "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "gpt2tutor.prewarm"], stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True, close_fds=True,
            env=maxenv.child_environment(PYTHONUNBUFFERED="1"),
        )


def run() -> int:
    """The prewarm itself: compiles every missing bundle, in order, reporting as it goes."""
    fd = None
    for _ in range(20):  # a reader's `running()` holds the lock for an instant: try for a second
        fd = _try_lock()
        if fd is not None:
            break
        time.sleep(0.05)
    if fd is None:
        print("another prewarm is running for this MAX cache", flush=True)
        return 0
    try:
        os.nice(NICENESS)
    except OSError:
        pass
    todo = kernels.missing(kernels.stages())
    progress = PrewarmReport(state="starting", pid=os.getpid(), todo=[s.name for s in todo],
                        stage=todo[0].name if todo else None, stage_started=time.time())
    _write(progress)
    print(f"{time.strftime('%H:%M:%S')} prewarm {os.getpid()}: {len(todo)} bundles to compile "
          f"({', '.join(progress.todo) or 'none'}) into {maxenv.cache_dir()}", flush=True)
    try:
        maxenv.tune_process()
        for stage in todo:
            progress.state, progress.stage, progress.stage_started = "compiling", stage.name, time.time()
            _write(progress)
            started = time.perf_counter()
            kernels.load(stage)
            kernels.mark_compiled(stage)
            took = round(time.perf_counter() - started, 1)
            progress.done.append(stage.name)
            progress.todo.remove(stage.name)
            progress.seconds[stage.name] = took
            _write(progress)
            print(f"{time.strftime('%H:%M:%S')} bundle {stage.name}: {len(stage.keys)} kernels in {took} s", flush=True)
        progress.state, progress.stage, progress.stage_started = "done", None, None
        _write(progress)
        return 0
    except Exception as exc:  # noqa: BLE001 - reported to whoever waits, then the checks take MAX's own path
        progress.state, progress.error = "failed", f"{type(exc).__name__}: {exc}"
        _write(progress)
        print(f"prewarm failed: {progress.error}", flush=True)
        return 1
    finally:
        os.close(fd)


if __name__ == "__main__":
    sys.exit(run())
