"""The background process: one per MAX cache, niced, compiling what the learner will need before they ask.

It compiles the checks' kernel batches (gpt2tutor.kernels) in the order a learner meets the steps, while
they read the first lesson, then the graph jobs (gpt2tutor.graphs: the learner's cached model, compiled at the
shapes `generate` uses, and compared with itself run eagerly), then, once a learner has reached the generation
step, the generation batch (the kernels `generate` uses that no check batch holds, if any). `start` launches it, and so does any command
that finds work for it (a process that was killed resumes where it stopped: finished batches are in MAX's
cache and the marker, and jobs stay queued until their verdict is written). A command that needs a batch or
a graph waits for it here (`wait_for_kernels`, `wait_for_graph`) instead of compiling the same thing beside
it on the same cores.

It holds an exclusive lock (flock, so the kernel releases it however the process ends) and writes its
`Report` atomically to a JSON file next to the lock, under $XDG_CACHE_HOME/gpt2tutor/. A report whose lock
is free belongs to a process that ended. It runs in its own session (Ctrl-C in the terminal does not reach
it) and ends by itself when the work is done. `Report.remaining` is the one estimate of how long is left.

`python -m gpt2tutor.background` runs it in the foreground (for a script, or to watch its log).
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from . import graphs, installation, kernels, maxenv
from .checking import spares
from .events import Launched, OnEvent, Waiting, WaitOver, ignore
from .files import write_atomic
from .processes import kill_tree
from .registry import Step

NICENESS = 10  # the learner's own checks come first
MAX_IMPORT_ESTIMATE = 5.0  # seconds to import MAX, from a cold disk
POLL = 0.25  # seconds between looks at the report while waiting
EVENT_EVERY = 0.5  # seconds between Waiting events


def state_dir() -> Path:
    return kernels.state_dir()


def report_path() -> Path:
    return state_dir() / "progress.json"


def log_path() -> Path:
    return state_dir() / "background.log"


def _lock_path() -> Path:
    return state_dir() / "lock"


def _try_lock() -> int | None:
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
        fd = _try_lock()
    except OSError:
        return False
    if fd is None:
        return True
    os.close(fd)  # closing releases it
    return False


def _pace_for_cores() -> float:
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
            return _pace_for_cores()
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


def _write(report: Report) -> None:
    data = dict(vars(report))
    data.pop("alive")
    write_atomic(report_path(), json.dumps(data))


def needed() -> bool:
    """Whether there is work for it: a kernel batch (the extra one included) not compiled yet, a graph job, or
    a request for a spare check process."""
    return kernels.background_enabled() and (bool(kernels.missing(kernels.batches())) or bool(graphs.jobs())
                                  or bool(_generation_todo()) or spares.enabled() and bool(spares.wanted()))


def _generation_todo() -> list[kernels.Batch]:
    """The generation batch (the kernels `generate` uses) when it is missing and due: once a learner of this MAX
    cache has reached the generation step (their cached model's compile is queued or done), after that compile."""
    batch = kernels.generation_batch()
    if batch is None or not graphs.reached():
        return []
    return kernels.missing([batch])


def launch() -> subprocess.Popen | None:
    """Starts the background process when there is work and none runs; returns it, else None.
    The process outlives the command that started it; its output goes to `log_path()`."""
    if not needed() or running():
        return None
    state_dir().mkdir(parents=True, exist_ok=True)
    with open(log_path(), "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "gpt2tutor.background"], stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True, close_fds=True,
            env=maxenv.child_environment(PYTHONUNBUFFERED="1"),
        )


def run() -> int:
    """The background process itself: compiles every missing batch, in order, reporting as it goes."""
    fd = None
    for _ in range(20):  # a reader's `running()` holds the lock for an instant: try for a second
        fd = _try_lock()
        if fd is not None:
            break
        time.sleep(0.05)
    if fd is None:
        print("another background process is running for this MAX cache", flush=True)
        return 0
    todo = kernels.missing(kernels.batches())
    names = [b.name for b in todo]
    if todo:  # MAX's Mojo packages, built on the first import of max.experimental.nn: after the first batch
        names.insert(1, MOJO)
    report = Report(state="starting", pid=os.getpid(), todo=names, installation=installation.identity(),
                    installed=installation.describe(),
                    task=todo[0].name if todo else None, task_started=time.time(),
                    estimates={MOJO: MOJO_ESTIMATE, **{b.name: b.estimate for b in _known_batches()}},
                    labels={MOJO: "MAX's Mojo packages (once per environment)",
                            SPARE: "a check process ready for the next check",
                            **{b.name: f"step {b.name}'s kernels" if b.step else b.label
                               for b in _known_batches()}})
    _add_jobs(report)
    report.todo += [b.name for b in _generation_todo()]
    _write(report)
    print(f"{time.strftime('%H:%M:%S')} background {os.getpid()}: {len(todo)} kernel batches to compile "
          f"({', '.join(b.name for b in todo) or 'none'}) into {maxenv.cache_dir()}, "
          f"{len(graphs.jobs())} graph jobs", flush=True)
    keeper = spares.Keeper() if spares.enabled() else None
    stop = threading.Event()
    tender = threading.Thread(target=_tend, args=(keeper, report, stop), daemon=True) if keeper else None
    if tender is not None:
        tender.start()  # spares are reaped and started while the compiles below run
    try:
        while True:  # the compiles run in children of their own: this process never imports MAX
            _compile(report, kernels.missing(kernels.batches()))
            if keeper is None or not spares.wanted() and not keeper.stop_idle():  # _tend keeps the spares
                break
            if report.task != SPARE:
                report.state, report.task, report.task_started = "ready", SPARE, time.time()
                _write(report)
            time.sleep(SPARE_POLL * 5)  # the spares are tended by their own thread (_tend)
        report.state, report.task, report.task_started = "done", None, None
        _write(report)
        return 0
    except Exception as exc:
        report.state, report.error = "failed", f"{type(exc).__name__}: {exc}"
        _write(report)
        print(f"background process failed: {report.error}", flush=True)
        return 1
    finally:
        stop.set()
        if tender is not None:
            tender.join(timeout=5)
        if keeper is not None:
            keeper.stop()
        os.close(fd)


def _tend(keeper: spares.Keeper, report: Report, stop: threading.Event) -> None:
    """In a thread beside the compiles: the spares that ended are reaped (their exit status written for the
    command that took them), and new ones started, except while a kernel batch compiles (they would load
    batches that are about to change)."""
    while not stop.is_set():
        task = report.task
        if task in (None, SPARE) or str(task).startswith("graph:"):  # graph jobs change no kernel a check loads
            keeper.tend()
        else:  # a kernel batch, or MAX's Mojo packages, compiling
            keeper.reap()
        stop.wait(SPARE_POLL)


SPARE = "spare"  # the task of keeping a check process ready (checking/spares.py)
SPARE_POLL = 0.1  # seconds between rounds of it


def _compile(report: Report, todo: list) -> None:
    """The kernel batches missing (MAX's Mojo packages built after the first), then the graph jobs queued."""
    for i, batch in enumerate(todo):
        _begin(report, batch.name)
        started = time.perf_counter()
        _compile_batch(batch)
        _end(report, batch.name, time.perf_counter() - started)
        print(f"{time.strftime('%H:%M:%S')} batch {batch.name}: {len(batch.keys)} kernels in "
              f"{report.seconds[batch.name]} s", flush=True)
        if i == 0 and MOJO in report.todo:
            _begin(report, MOJO)
            started = time.perf_counter()
            _build_mojo_packages()
            _end(report, MOJO, time.perf_counter() - started)
    while True:
        pending = graphs.jobs()
        if not pending:
            break
        job = pending[0]
        _add_jobs(report)
        _begin(report, job.name)
        started = time.perf_counter()
        _run_job(job)
        _end(report, job.name, time.perf_counter() - started)
    for batch in _generation_todo():  # after the learner's model: `generate` needs that first
        if batch.name not in report.todo:
            report.todo.append(batch.name)
        _begin(report, batch.name)
        started = time.perf_counter()
        _compile_batch(batch)
        _end(report, batch.name, time.perf_counter() - started)
        print(f"{time.strftime('%H:%M:%S')} batch {batch.name}: {len(batch.keys)} kernels in "
              f"{report.seconds[batch.name]} s", flush=True)


def _known_batches() -> list[kernels.Batch]:
    """Every batch the background may compile: the checks', then the generation batch."""
    extra = kernels.generation_batch()
    return kernels.batches() + ([extra] if extra is not None else [])


MOJO = "mojo"  # the task that builds MAX's Mojo packages
MOJO_ESTIMATE = 30.0  # seconds, the first time in an environment (about 1 s afterwards)


def _niced() -> None:
    """In a child about to compile: the learner's own commands come first."""
    try:
        os.nice(NICENESS)
    except OSError:
        pass


def _child(args: list[str], timeout: float | None = None) -> int:
    """A niced child process of ours (compiles happen there; the background process itself is not niced, so the
    spare check processes it keeps run at the learner's priority), its output into the log."""
    with open(log_path(), "ab") as log:
        proc = subprocess.Popen([sys.executable, *args], stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=_niced,
                                env=maxenv.child_environment(PYTHONUNBUFFERED="1"))
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return -1
        finally:
            kill_tree(proc.pid)  # whatever it left running (the learner's code runs in a graph job)
            proc.wait()


def _compile_batch(batch: kernels.Batch) -> None:
    if _child(["-m", "gpt2tutor.kernels", batch.name]) != 0 or batch in kernels.missing([batch]):
        raise RuntimeError(f"compiling the kernel batch {batch.name} failed (see {log_path()})")


def _build_mojo_packages() -> None:
    """The first import of max.experimental.nn in an environment builds MAX's _kv_cache_ops Mojo package (about
    30 s on 2 cores): here, before the learner's first check that needs it (step 03's) asks for it."""
    _child(["-c", "from gpt2tutor.maxenv import mojo_packages; mojo_packages()"])


def _add_jobs(report: Report) -> None:
    for job in graphs.jobs():
        if job.name not in report.todo:  # before the generation batch, which waits for the learner's model
            at = report.todo.index(kernels.GENERATION) if kernels.GENERATION in report.todo else len(report.todo)
            report.todo.insert(at, job.name)
            report.estimates[job.name] = graphs.ESTIMATE
            report.labels[job.name] = "your cached GPT-2, compiled at 124M's sizes and checked"


def _begin(report: Report, task: str) -> None:
    report.state, report.task, report.task_started = "working", task, time.time()
    _write(report)


def _end(report: Report, task: str, seconds: float) -> None:
    report.done.append(task)
    if task in report.todo:
        report.todo.remove(task)
    report.seconds[task] = round(seconds, 1)
    _write(report)


def _run_job(job: graphs.Job) -> None:
    """One graph job, in a child process: the learner's code runs there, within a time limit."""
    _child(["-m", "gpt2tutor.graphs", str(graphs.job_path(job.key))], timeout=graphs.JOB_TIMEOUT)
    if graphs.verdict(job.key) is None:
        graphs.save(graphs.Verdict(job.key, "failed", "the compile of your cached model did not finish (or its "
                                   f"process died): see {log_path()}", sizes=graphs.sizes()))
    graphs.done(job)


# --- the other side: starting it, and waiting for it ---------------------------------------------

_gave_up = False  # it failed while this process waited: don't wait for it again


def launch_if_needed() -> subprocess.Popen | None:
    """Starts the background process when it has work and none runs (an OSError is no start)."""
    if not needed() or running():
        return None
    try:
        return launch()
    except OSError:
        return None


def wait_for_kernels(steps: Sequence[Step] | None, *, who: str, wait: bool = True,
                     on_event: OnEvent = ignore) -> bool:
    """Before running `steps`' checks (None: every step): makes sure the background process runs when
    batches are missing, and waits for the ones these checks need, sending Waiting events, when they
    would otherwise compile the same kernels beside it. Returns whether those kernels are ready.

    No wait when `wait` is off, or where MAX's own full cache serves the checks meanwhile. Ctrl-C while
    waiting raises KeyboardInterrupt; the background process carries on."""
    if not kernels.enabled():
        return True
    last = steps[-1] if steps else None
    needed_now = kernels.missing(kernels.batches_for(last))
    if not kernels.background_enabled():
        return not needed_now  # no background process to wait for: MAX compiles what is missing as it goes
    launched = launch_if_needed()
    if launched is not None:
        on_event(Launched(launched.pid, waited_for=bool(needed_now and wait and not _gave_up
                                                        and not maxenv.full_cache_compiled())))
    if not needed_now or not wait or _gave_up or maxenv.full_cache_compiled():
        return not needed_now
    return _wait(needed_now, launched, who, on_event)


def _wait(needed_now: list, launched: subprocess.Popen | None, who: str, on_event: OnEvent) -> bool:
    global _gave_up
    started = time.monotonic()
    relaunched = False
    said = 0.0
    while True:
        left = kernels.missing(needed_now)
        report = read_report()
        if not left:
            break
        now = time.monotonic()
        if now - said >= EVENT_EVERY:
            said = now
            on_event(Waiting(who, len(left), len(needed_now), report, now - started))
        alive = report.alive or (launched is not None and launched.poll() is None)
        if not alive:
            if not relaunched:
                relaunched = True
                try:
                    launched = launch()
                except OSError:
                    launched = None
                if launched is not None:
                    continue
            _gave_up = True
            on_event(WaitOver(who, time.monotonic() - started, False, read_report().error or ""))
            return False
        time.sleep(POLL)
    on_event(WaitOver(who, time.monotonic() - started, True))
    return True


def wait_for_generation(*, on_event: OnEvent = ignore) -> bool:
    """Before `generate` runs the model: when the generation batch is due and missing, makes sure the background
    process runs and waits for it (Waiting events), rather than compiling its kernels here beside it. Returns
    whether they are compiled; not due (no learner reached the generation step), MAX compiles as it goes."""
    batch = kernels.generation_batch()
    todo = _generation_todo()
    if batch is None or not kernels.enabled():
        return False
    if not todo or not kernels.background_enabled():
        return not kernels.missing([batch])
    launched = launch_if_needed()
    if _gave_up or maxenv.full_cache_compiled():
        return False
    return _wait(todo, launched, "generate", on_event)


def wait_for_graph(graph_key: str, *, who: str, on_event: OnEvent = ignore) -> graphs.Verdict | None:
    """The verdict on the learner's compiled model, waiting for the background process while it compiles it
    (Waiting events). None when there is no verdict and no job for these files, or the background stopped."""
    found = graphs.verdict(graph_key)
    if found is not None or not graphs.job_path(graph_key).exists():
        return found
    launched = launch_if_needed()
    started, said, relaunched = time.monotonic(), 0.0, False
    while True:
        found = graphs.verdict(graph_key)
        if found is not None:
            on_event(WaitOver(who, time.monotonic() - started, True, what="graph"))
            return found
        if not graphs.job_path(graph_key).exists():
            on_event(WaitOver(who, time.monotonic() - started, False, "the job went away", what="graph"))
            return None
        report = read_report()
        now = time.monotonic()
        if now - said >= EVENT_EVERY:
            said = now
            on_event(Waiting(who, 1, 1, report, now - started, what="graph"))
        if not (report.alive or (launched is not None and launched.poll() is None)):
            if relaunched:
                on_event(WaitOver(who, now - started, False, report.error or "", what="graph"))
                return None
            relaunched = True
            try:
                launched = launch()
            except OSError:
                launched = None
        time.sleep(POLL)


def another_installation() -> str | None:
    """When the background process running now belongs to another installation of the tutor (another virtual
    environment, say): that installation, for people. It compiles for both, but keeps spare check processes for
    its own only."""
    report = read_report()
    if not report.alive or not report.installation or report.installation == installation.identity():
        return None
    return report.installed or "another installation"


def task_now() -> dict:
    """For `doctor --json`: whether the background process is running, and what it is doing."""
    report = read_report()
    return {"running": report.alive, "task": report.label() if report.alive and report.task else None}


def kernels_status() -> tuple[bool, str]:
    """For `doctor`: (fine, text) about the checks' kernels."""
    if not kernels.enabled():
        return False, f"kernel batches are off ({kernels.ENV_SWITCH}=0): checks use MAX's own cache"
    every = kernels.batches()
    todo = kernels.missing(every)
    if not todo:
        return True, f"the checks' kernels are compiled ({len(every)} batches)"
    report = read_report()
    if report.alive:
        return True, (f"compiling in the background: {report.label()}, {len(todo)} of "
                      f"{len(every)} batches left, ~{duration(report.remaining())} to go")
    estimate = sum(b.estimate for b in todo) * _pace_for_cores()
    return False, (f"{len(todo)} of {len(every)} batches not compiled yet: `gpt2tutor start` or `check` "
                   f"compiles them in the background (about {duration(estimate)})")


def duration(seconds: float) -> str:
    """12 s · 3 min 05 s · 14 min."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds < 600 else f"{round(seconds / 60)} min"


def first_estimates() -> tuple[str, float, float]:
    """For `start`: the first batch to compile (its step's id), and the seconds until it, and until every
    batch, is compiled on this machine."""
    todo = kernels.missing(kernels.batches())
    first = [b for b in todo if b.step is not None][:1]
    pace = _pace_for_cores()
    return (first[0].name if first else "", (sum(b.estimate for b in first) + MAX_IMPORT_ESTIMATE) * pace,
            (sum(b.estimate for b in todo) + MAX_IMPORT_ESTIMATE + MOJO_ESTIMATE) * pace)


if __name__ == "__main__":
    sys.exit(run())
