"""What the background process (gpt2tutor.background) is doing, as it writes it: its `Report`, the lock it
holds and the files next to it, under $XDG_CACHE_HOME/gpt2tutor/ (kernels.state_dir).

The lock is an flock, so the kernel releases it however the process ends; a report whose lock is free belongs
to a process that ended. The report is written atomically. `Report.remaining` is the one estimate of how long
is left.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from .files import write_atomic
from .kernels import state_dir

MAX_IMPORT_ESTIMATE = 5.0  # seconds to import MAX, from a cold disk
MOJO = "mojo"  # the task that builds MAX's Mojo packages
MOJO_ESTIMATE = 30.0  # seconds, the first time in an environment (about 1 s afterwards)


def report_path() -> Path:
    return state_dir() / "progress.json"


def log_path() -> Path:
    return state_dir() / "background.log"


def _lock_path() -> Path:
    return state_dir() / "lock"


def try_lock() -> int | None:
    """The lock's file descriptor when we got it, None when the background process holds it."""
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
    """Whether the background process holds the lock right now."""
    try:
        fd = try_lock()
    except OSError:
        return False
    if fd is None:
        return True
    os.close(fd)  # closing releases it
    return False


def pace_for_cores() -> float:
    """The estimates are for 2 cores; a compile uses up to about 2, so more cores help only a little."""
    return 1.0 if (os.cpu_count() or 1) <= 2 else 0.7


@dataclass
class Report:
    """What the background process is doing, as it writes it; read by anyone who waits for it."""

    state: str = "none"  # none · starting · working · ready (keeping a spare check process) · done · failed
    pid: int | None = None
    task: str | None = None  # the task now running (a kernel batch's name: "02", ..., "extra")
    task_started: float | None = None  # time.time()
    done: list[str] = field(default_factory=list)  # tasks this run finished
    todo: list[str] = field(default_factory=list)  # tasks this run has left (the current one included)
    seconds: dict[str, float] = field(default_factory=dict)  # how long each finished task took
    estimates: dict[str, float] = field(default_factory=dict)  # seconds each task takes on 2 cores
    labels: dict[str, str] = field(default_factory=dict)  # each task, for people: "step 03's batch", ...
    error: str | None = None
    installation: str | None = None  # installation.identity() of the process: it keeps spares for that one only
    installed: str | None = None  # installation.describe() of it, for people
    alive: bool = False  # the lock is held: the process is running (not stored)

    def label(self, task: str | None = None) -> str:
        task = task or self.task
        return self.labels.get(task, task or "")

    def pace(self) -> float:
        """How fast this machine is against the estimates: from the tasks measured so far, else its cores."""
        measured = [(self.seconds[n], self.estimates[n]) for n in self.done
                    if n in self.seconds and n in self.estimates and n != MOJO]  # MOJO: 1 s once it is built
        if not measured:
            return pace_for_cores()
        return min(4.0, max(0.25, sum(a for a, _ in measured) / max(1e-6, sum(b for _, b in measured))))

    def current_elapsed(self) -> float:
        return max(0.0, time.time() - self.task_started) if self.task_started is not None else 0.0

    def overdue(self) -> bool:
        """The current task has already taken longer than its estimate."""
        return self.task is not None and self.current_elapsed() > self.estimates.get(self.task, 30.0) * self.pace()

    def remaining(self, until: str | None = None) -> float:
        """Seconds until the task `until` (default: every task) is done. The current task counts its
        estimate less the time it has run; once it runs over, a third of its time so far again (so the
        figure grows while it overruns, rather than sticking near zero)."""
        pace = self.pace()
        total = MAX_IMPORT_ESTIMATE if self.state == "starting" else 0.0
        for name in self.todo:
            cost = self.estimates.get(name, 30.0) * pace
            if name == self.task and self.task_started is not None:
                elapsed = self.current_elapsed()
                cost = cost - elapsed if elapsed < cost else elapsed / 3
            total += cost
            if name == until:
                break
        return total


def read_report() -> Report:
    try:
        data = json.loads(report_path().read_text("utf-8"))
        report = Report(**{k: v for k, v in data.items() if k in Report.__dataclass_fields__ and k != "alive"})
    except (OSError, ValueError, TypeError):
        report = Report()
    report.alive = running()
    return report


def write_report(report: Report) -> None:
    data = dict(vars(report))
    data.pop("alive")
    write_atomic(report_path(), json.dumps(data))
