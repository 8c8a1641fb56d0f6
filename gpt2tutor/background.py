"""The background process: one per MAX cache, niced, compiling what the learner will need before they ask.

It compiles the checks' kernel batches (gpt2tutor.kernels) in the order a learner meets the steps, while
they read the first lesson, then the graph jobs (gpt2tutor.graphs: the learner's cached model, compiled at the
shapes `generate` uses, and compared with itself run eagerly), then, once a learner has reached the generation
step, the generation batch (the kernels `generate` uses that no check batch holds, if any). `start` launches
it, and so does any command that finds work for it (a process that was killed resumes where it stopped:
finished batches are in MAX's cache and the marker, and jobs stay queued until their verdict is written).
Commands wait for it in gpt2tutor.waiting; what it is doing is its report (gpt2tutor.background_report).

It runs in its own session (Ctrl-C in the terminal does not reach it), holds the report's lock while it runs,
and ends by itself when the work is done.

`python -m gpt2tutor.background` runs it in the foreground (for a script, or to watch its log).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

from . import graphs, installation, kernels, maxenv
from .background_report import MOJO, MOJO_ESTIMATE, Report, log_path, running, try_lock, write_report
from .checking import spares
from .processes import kill_tree

NICENESS = 10  # the learner's own checks come first


def needed() -> bool:
    """Whether there is work for it: a kernel batch (the extra one included) not compiled yet, a graph job, or
    a request for a spare check process."""
    return kernels.background_enabled() and (bool(kernels.missing(kernels.batches())) or bool(graphs.jobs())
                                  or bool(generation_todo()) or spares.enabled() and bool(spares.wanted()))


def generation_todo() -> list[kernels.Batch]:
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
    kernels.state_dir().mkdir(parents=True, exist_ok=True)
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
        fd = try_lock()
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
    report.todo += [b.name for b in generation_todo()]
    write_report(report)
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
                write_report(report)
            time.sleep(SPARE_POLL * 5)  # the spares are tended by their own thread (_tend)
        report.state, report.task, report.task_started = "done", None, None
        write_report(report)
        return 0
    except Exception as exc:
        report.state, report.error = "failed", f"{type(exc).__name__}: {exc}"
        write_report(report)
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
    for batch in generation_todo():  # after the learner's model: `generate` needs that first
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
    write_report(report)


def _end(report: Report, task: str, seconds: float) -> None:
    report.done.append(task)
    if task in report.todo:
        report.todo.remove(task)
    report.seconds[task] = round(seconds, 1)
    write_report(report)


def _run_job(job: graphs.Job) -> None:
    """One graph job, in a child process: the learner's code runs there, within a time limit."""
    _child(["-m", "gpt2tutor.graphs", str(graphs.job_path(job.key))], timeout=graphs.JOB_TIMEOUT)
    if graphs.verdict(job.key) is None:
        graphs.save(graphs.Verdict(job.key, "failed", "the compile of your cached model did not finish (or its "
                                   f"process died): see {log_path()}", sizes=graphs.sizes()))
    graphs.done(job)



def launch_if_needed() -> subprocess.Popen | None:
    """Starts the background process when it has work and none runs (an OSError is no start)."""
    if not needed() or running():
        return None
    try:
        return launch()
    except OSError:
        return None



if __name__ == "__main__":
    sys.exit(run())
