"""Runs checks in a child process with a time limit, so nothing the learner's code does can hurt the tutor."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path

from ..errors import CheckCancelled, TutorError
from ..events import Compiled, Compiling
from ..maxenv import child_environment
from ..names import SEED_ENV, TIMEOUT_ENV
from ..processes import kill_tree
from ..registry import Step, get_step
from . import protocol
from .protocol import Finished, Started
from .results import TIME_LIMIT, Result, StepOutcome

DEFAULT_TIMEOUT = 120.0  # seconds one step's checks may take
OUTPUT_TAIL = 4000  # characters of the learner's printed output kept for a report


class _Stopped(Exception):
    """`stop_before` said no to the next step: the run ends there."""


CANCEL_EVERY = 0.25  # seconds between two questions to `cancel`
STACK_WAIT = 1.0  # seconds a check process that ran out of time gets to say where the learner's code was


def default_timeout() -> float:
    """GPT2TUTOR_TIMEOUT, else 120 s; a value that is no positive number of seconds is a TutorError."""
    raw = os.environ.get(TIMEOUT_ENV)
    if raw is None or not raw.strip():
        return DEFAULT_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value >= 1:
        raise TutorError(f"{TIMEOUT_ENV}={raw!r}: give the seconds one step's checks may take, a number of at least 1")
    return value


def default_seed() -> int | None:
    """The seed from GPT2TUTOR_SEED, or None: the child then draws one of its own. A value that is no whole
    number is a TutorError."""
    raw = os.environ.get(SEED_ENV)
    if raw is None or not raw.strip():
        return None
    try:
        return int(raw)
    except ValueError:
        raise TutorError(f"{SEED_ENV}={raw!r}: the seed of the checks' random inputs is a whole number") from None


class _Tail:
    """Drains a pipe in a thread, keeping only its last characters."""

    def __init__(self, stream):
        self._chunks: deque[str] = deque()
        self._size = 0
        self._thread = threading.Thread(target=self._drain, args=(stream,), daemon=True)
        self._thread.start()

    def _drain(self, stream) -> None:
        for chunk in iter(lambda: stream.read(4096), b""):
            text = chunk.decode("utf-8", "replace")
            self._chunks.append(text)
            self._size += len(text)
            while self._size > OUTPUT_TAIL and len(self._chunks) > 1:
                self._size -= len(self._chunks.popleft())

    def text(self) -> str:
        self._thread.join(timeout=1)
        return "".join(self._chunks)[-OUTPUT_TAIL:]


def _kill_group(proc) -> None:
    """Ends the check process, its group and every process below it (one that called setsid() too)."""
    kill_tree(proc.pid)
    proc.wait()


def _describe_exit(code: int, output: str) -> str:
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        what = f"the Python process running your code crashed ({name})"
        if name == "SIGABRT":
            what += ": something called abort()"
        elif name == "SIGSEGV":
            what += ": a segmentation fault in native code"
    else:
        what = f"your code ended the process that runs the checks (exit code {code}, e.g. os._exit)"
    tail = output.strip()
    return what + (f"\nLast output:\n{tail[-1500:]}" if tail else "")


COMPILE_LIMIT = 1800.0  # seconds MAX may spend compiling kernels for one step before we give up


class Spare:
    """A check process started ahead of time: it has imported MAX and loaded the compiled kernels, and
    waits for the steps to check on stdin. Every check still gets a fresh process (the learner's code
    is imported anew, and whatever it does dies with the process), but without the start-up wait."""

    def __init__(self, exercises: Path):
        from .. import kernels

        self.exercises = exercises
        self.batches = kernels.compiled_ids()  # what it loads: a batch compiled later makes it stale
        self._tmp = tempfile.TemporaryDirectory(prefix="gpt2tutor-")
        self.results = Path(self._tmp.name) / "results.jsonl"
        self.results.touch()
        self.proc = _spawn(exercises, ["--results", str(self.results), "--wait"], stdin=subprocess.PIPE)
        self.output = _Tail(self.proc.stdout)
        self.used = False

    def usable_for(self, exercises: Path) -> bool:
        from .. import kernels

        return (not self.used and self.proc.poll() is None and exercises == self.exercises
                and kernels.compiled_ids() == self.batches)

    def go(self, steps: Sequence[Step], seed: int | None) -> None:
        self.used = True
        self.proc.stdin.write((json.dumps({"steps": [s.id for s in steps], "seed": seed}) + "\n").encode())
        self.proc.stdin.close()

    def close(self) -> None:
        if self.proc.stdin and not self.proc.stdin.closed:
            try:
                self.proc.stdin.close()  # an unused child reads EOF and ends by itself
            except OSError:
                pass
        _kill_group(self.proc)
        self._tmp.cleanup()


class SpareChecker:
    """Runs checks keeping one Spare ready for the next run (`gpt2tutor watch`): a re-check after a save
    then costs only the checks themselves. Close it (or use it as a context manager) to end the spare."""

    def __init__(self, exercises: Path, *, ahead: bool = False):
        self.exercises = exercises
        self.ahead = ahead  # start the next spare as a run begins (it prepares beside the checks) rather than after
        self._spare: Spare | None = None

    def prestart(self) -> None:
        if self._spare is None or not self._spare.usable_for(self.exercises):
            if self._spare is not None:
                self._spare.close()
            self._spare = Spare(self.exercises)

    def take(self) -> Spare | None:
        spare, self._spare = self._spare, None
        if spare is not None and not spare.usable_for(self.exercises):
            spare.close()
            return None
        return spare

    def run(self, steps: Sequence[Step], **kwargs) -> list[StepOutcome]:
        spare = self.take()
        if self.ahead:
            self.prestart()
        try:
            return run_checks(steps, self.exercises, prestarted=spare, **kwargs)
        finally:
            self.prestart()  # the next one gets ready while the learner reads the results

    def close(self) -> None:
        spare, self._spare = self._spare, None
        if spare is not None:
            spare.close()

    def __enter__(self) -> SpareChecker:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def run_checks(
    steps: Sequence[Step],
    exercises: Path,
    *,
    timeout: float | None = None,
    on_result: Callable[[Result], None] | None = None,
    seed: int | None = None,
    on_progress: Callable[[Compiling | Compiled], None] | None = None,
    prestarted: Spare | None = None,
    stop_before: Callable[[Step], bool] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> list[StepOutcome]:
    """Checks each step in a child process; a step that crashes or hangs its process fails alone.

    `on_progress` gets the child's Compiling and Compiled records as they come, around what MAX compiles
    on the fly (the time limit is paused meanwhile). `prestarted`, a Spare for these exercises, runs the
    first steps (it is used up).
    `stop_before(step)` is asked as each step starts, the earlier ones settled; True ends the run there,
    and only the steps that ran are returned. `cancel()`, asked every CANCEL_EVERY seconds while a check
    process runs, ends it when True: CheckCancelled is raised.
    """
    timeout = default_timeout() if timeout is None else timeout
    seed = default_seed() if seed is None else seed
    outcomes = {s.id: StepOutcome(s) for s in steps}
    pending = list(steps)
    try:
        while pending:
            pre, prestarted = prestarted, None
            if pre is not None and not pre.usable_for(exercises):
                pre.close()
                pre = None
            done = _run_child(pending, exercises, timeout, outcomes, on_result, seed, on_progress, pre,
                              stop_before, cancel)
            pending = pending[done:]
    except _Stopped:
        return [outcomes[s.id] for s in steps if outcomes[s.id].results]
    finally:
        if prestarted is not None:
            prestarted.close()
    return [outcomes[s.id] for s in steps]


def _spawn(exercises: Path, args: list[str], *, stdin=subprocess.DEVNULL) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "gpt2tutor.checking.child", "--exercises", str(exercises), *args],
        stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True, cwd=exercises,
        env=child_environment(),
    )


def _run_child(steps, exercises, timeout, outcomes, on_result, seed, on_progress=None, pre=None,
               stop_before=None, cancel=None) -> int:
    """Runs the steps in one child until it ends; returns how many steps it settled."""
    if pre is not None:
        try:
            try:
                pre.go(steps, seed)
            except OSError:  # it died meanwhile (killed from outside?): start one the usual way
                pass
            else:
                return _watch_child(pre.proc, pre.output, pre.results, steps, timeout, outcomes, on_result,
                                    on_progress, stop_before, cancel, exercises)
        finally:
            pre.close()
    with tempfile.TemporaryDirectory(prefix="gpt2tutor-") as tmp:
        results_path = Path(tmp) / "results.jsonl"
        results_path.touch()
        args = ["--results", str(results_path)]
        if seed is not None:
            args += ["--seed", str(seed)]
        proc = _spawn(exercises, [*args, *[s.id for s in steps]])
        try:
            output = _Tail(proc.stdout)
        except BaseException:
            _kill_group(proc)
            raise
        return _watch_child(proc, output, results_path, steps, timeout, outcomes, on_result, on_progress,
                            stop_before, cancel, exercises)


def _watch_child(proc, output, results_path, steps, timeout, outcomes, on_result, on_progress,
                 stop_before=None, cancel=None, exercises=None) -> int:
    """Follows a running child's results file until it ends; returns how many steps it settled."""
    current: str | None = None
    settled = 0
    paused_at: float | None = None  # MAX is compiling a kernel: the learner's time limit waits
    asked = time.monotonic()  # when `cancel` was last asked
    try:
        deadline = time.monotonic() + timeout
        with open(results_path, encoding="utf-8") as feed:
            partial, exited = "", False
            while True:
                partial += feed.readline()
                if partial.endswith("\n"):
                    record, partial = protocol.decode(partial), ""
                    if isinstance(record, Started):
                        if stop_before is not None and stop_before(get_step(record.step)):
                            raise _Stopped
                        current, deadline = record.step, time.monotonic() + timeout
                    elif isinstance(record, Finished):
                        current, settled = None, settled + 1
                        if settled == len(steps):
                            break  # every verdict is in: no need to wait for the process's own shutdown
                    elif isinstance(record, Result):
                        outcomes[record.step].results.append(record)
                        if on_result:
                            on_result(record)
                    elif isinstance(record, (Compiling, Compiled)):
                        if isinstance(record, Compiling) and paused_at is None:
                            paused_at = time.monotonic()
                        elif isinstance(record, Compiled) and paused_at is not None:
                            deadline += time.monotonic() - paused_at
                            paused_at = None
                        if on_progress:
                            on_progress(record)
                    continue
                if exited:
                    break
                if proc.poll() is not None:
                    exited = True  # one more pass reads what it wrote last
                    continue
                now = time.monotonic()
                if cancel is not None and now - asked >= CANCEL_EVERY:
                    asked = now
                    if cancel():
                        _kill_group(proc)
                        raise CheckCancelled
                if paused_at is not None and now - paused_at > COMPILE_LIMIT:
                    _kill_group(proc)
                    _fail(outcomes, current or steps[settled].id, on_result,
                          f"MAX spent over {COMPILE_LIMIT / 60:.0f} minutes compiling kernels for this step and was "
                          f"stopped: try again, or run `max warm-interpreter-cache` first", TIME_LIMIT)
                    return settled + 1
                if paused_at is None and now > deadline:
                    where = _where_it_ran(proc, results_path, exercises)
                    _kill_group(proc)
                    _fail(outcomes, current or steps[settled].id, on_result,
                          f"the checks did not finish within {timeout:.0f} s: an infinite loop, or code "
                          f"waiting for something? (set {TIMEOUT_ENV} to allow longer){where}", TIME_LIMIT)
                    return settled + 1
                time.sleep(0.02)
    except BaseException:
        _kill_group(proc)
        raise
    if settled == len(steps):
        _kill_group(proc)  # its work is done: it and anything the learner's code left running go now
        return settled
    code = proc.wait()
    _kill_group(proc)  # anything the learner's code left running in its group
    if settled < len(steps):
        _fail(outcomes, current or steps[settled].id, on_result, _describe_exit(code, output.text()))
        return settled + 1
    return settled


def _where_it_ran(proc, results_path: Path, exercises: Path | None) -> str:
    """Asks a check process that ran out of time where it is (protocol.STACK_SIGNAL: it writes its stack, even
    from inside native code), and gives the learner's lines it was running, innermost last, as a traceback
    shows them; "" when it does not answer within STACK_WAIT seconds, or ran none of them."""
    if exercises is None:
        return ""
    stack = protocol.stack_path(results_path)
    try:
        os.kill(proc.pid, protocol.STACK_SIGNAL)
    except (ProcessLookupError, PermissionError):
        return ""
    deadline, size = time.monotonic() + STACK_WAIT, -1
    while time.monotonic() < deadline:  # written from a signal handler in one go: done once it stops growing
        time.sleep(0.05)
        now = stack.stat().st_size if stack.exists() else 0
        if now and now == size:
            break
        size = now
    frames = protocol.learner_stack(stack, exercises)
    if not frames:
        return ""
    lines = "\n".join(f"  {path.name}, line {line}, in {name}\n    {source}" for path, line, name, source in frames)
    return f"\nWhen it was stopped, your code was running:\n{lines}"


def _fail(outcomes, sid: str, on_result, message: str, cause: str = "") -> None:
    results = outcomes[sid].results
    phase = results[-1].phase if results else "file"
    result = Result(sid, phase, "the checks ran to the end", False, message, cause)
    results.append(result)
    if on_result:
        on_result(result)
