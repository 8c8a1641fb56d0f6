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
from dataclasses import dataclass, field
from pathlib import Path

from ..curriculum import Step
from .results import Result

DEFAULT_TIMEOUT = 120.0  # seconds one step's checks may take
TIMEOUT_ENV = "GPT2TUTOR_TIMEOUT"
OUTPUT_TAIL = 4000  # characters of the learner's printed output kept for a report


@dataclass
class StepOutcome:
    step: Step
    results: list[Result] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.results) and all(r.passed for r in self.results)


def default_timeout() -> float:
    try:
        return float(os.environ.get(TIMEOUT_ENV, DEFAULT_TIMEOUT))
    except ValueError:
        return DEFAULT_TIMEOUT


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


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
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


def run_checks(
    steps: Sequence[Step],
    exercises: Path,
    *,
    timeout: float | None = None,
    on_result: Callable[[Result], None] | None = None,
    seed: int | None = None,
) -> list[StepOutcome]:
    """Checks each step in a child process; a step that crashes or hangs its process fails alone."""
    timeout = default_timeout() if timeout is None else timeout
    outcomes = {s.id: StepOutcome(s) for s in steps}
    pending = list(steps)
    while pending:
        done = _run_child(pending, exercises, timeout, outcomes, on_result, seed)
        pending = pending[done:]
    return [outcomes[s.id] for s in steps]


def _run_child(steps, exercises, timeout, outcomes, on_result, seed) -> int:
    """Runs the steps in one child until it ends; returns how many steps it settled."""
    with tempfile.TemporaryDirectory(prefix="gpt2tutor-") as tmp:
        results_path = Path(tmp) / "results.jsonl"
        results_path.touch()
        cmd = [sys.executable, "-m", "gpt2tutor.checking.child", "--exercises", str(exercises),
               "--results", str(results_path)]
        if seed is not None:
            cmd += ["--seed", str(seed)]
        cmd += [s.id for s in steps]
        proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            start_new_session=True, cwd=exercises,
        )
        output = _Tail(proc.stdout)
        current: str | None = None
        settled = 0
        deadline = time.monotonic() + timeout
        try:
            with open(results_path, encoding="utf-8") as feed:
                partial, exited = "", False
                while True:
                    partial += feed.readline()
                    if partial.endswith("\n"):
                        record, partial = json.loads(partial), ""
                        if "started" in record:
                            current, deadline = record["started"], time.monotonic() + timeout
                        elif "finished" in record:
                            current, settled = None, settled + 1
                        elif "result" in record:
                            result = Result(**record["result"])
                            outcomes[result.step].results.append(result)
                            if on_result:
                                on_result(result)
                        continue
                    if exited:
                        break
                    if proc.poll() is not None:
                        exited = True  # one more pass reads what it wrote last
                        continue
                    if time.monotonic() > deadline:
                        _kill_group(proc)
                        _fail(outcomes, current or steps[settled].id, on_result,
                              f"the checks did not finish within {timeout:.0f} s: an infinite loop, or code "
                              f"waiting for something? (set {TIMEOUT_ENV} to allow longer)")
                        return settled + 1
                    time.sleep(0.02)
        except BaseException:
            _kill_group(proc)
            raise
        code = proc.wait()
        _kill_group(proc)  # anything the learner's code left running in its group
        if settled < len(steps):
            _fail(outcomes, current or steps[settled].id, on_result, _describe_exit(code, output.text()))
            return settled + 1
        return settled


def _fail(outcomes, sid: str, on_result, message: str) -> None:
    results = outcomes[sid].results
    phase = results[-1].phase if results else "file"
    result = Result(sid, phase, "the checks ran to the end", False, message)
    results.append(result)
    if on_result:
        on_result(result)
