"""The tutor as a real process, for the tests where the process itself matters (Ctrl-C, watch).

`tutor(...)` starts `gpt2tutor ARGS` in a process group of its own, with Ctrl-C raising KeyboardInterrupt
as in a terminal, whatever the test runner inherited (a suite started in the background has SIGINT
ignored, and Python then never raises KeyboardInterrupt). Every process it starts inherits a mark in its
environment, so `left_behind(proc)` finds them all, even those in sessions of their own (the check
processes). On the way out, pass or fail, the group and every marked process are killed.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

MARK = "GPT2TUTOR_TEST_PROCESS"
DROPPED = ("GPT2TUTOR_WORKSPACE", "VISUAL", "EDITOR")


# Before anything else, the tutor's process puts back the SIGINT handler Python installs when SIGINT is
# not ignored (KeyboardInterrupt); the processes it starts then inherit SIGINT's default action.
LAUNCH = ("import signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
          "from gpt2tutor.cli import main; main()")


@contextmanager
def tutor(*args: str, cwd: Path, env: dict | None = None, **popen) -> Iterator[subprocess.Popen]:
    mark = uuid.uuid4().hex
    full_env = {k: v for k, v in os.environ.items() if k not in DROPPED}
    full_env.update(PYTHONUNBUFFERED="1", NO_COLOR="1", COLUMNS="200", **(env or {}))
    full_env[MARK] = mark
    popen = {"stdin": subprocess.PIPE, "stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True, **popen}
    proc = subprocess.Popen([sys.executable, "-c", LAUNCH, *map(str, args)], cwd=cwd, env=full_env,
                            process_group=0, **popen)
    proc.mark = mark  # type: ignore[attr-defined]
    proc.lines = queue.Queue()  # type: ignore[attr-defined]
    proc.err = []  # type: ignore[attr-defined]
    readers = [threading.Thread(target=_pump, args=(proc.stdout, proc.lines.put), daemon=True),
               threading.Thread(target=_pump, args=(proc.stderr, proc.err.append), daemon=True)]
    for reader in readers:
        reader.start()
    proc.readers = readers  # type: ignore[attr-defined]
    try:
        yield proc
    finally:
        kill_everything(proc)


def interrupt(proc: subprocess.Popen) -> None:
    """Ctrl-C as a terminal sends it: SIGINT to the tutor's whole process group."""
    os.killpg(proc.pid, signal.SIGINT)


def marked(mark: str) -> list[int]:
    """Live processes (zombies excluded) carrying `mark` in their environment."""
    needle = f"{MARK}={mark}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            found.append(int(entry.name))
    return found


def descendants(proc: subprocess.Popen) -> list[int]:
    """Processes the tutor started (directly or not) that are still running."""
    return [pid for pid in marked(proc.mark) if pid != proc.pid]  # type: ignore[attr-defined]


def left_behind(proc: subprocess.Popen, grace: float = 5.0) -> list[int]:
    """After the tutor exited: the processes it started that are still running `grace` seconds on."""
    deadline = time.monotonic() + grace
    while (left := marked(proc.mark)) and time.monotonic() < deadline:  # type: ignore[attr-defined]
        time.sleep(0.1)
    return left


def wait_until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.1)


def _pump(stream, put) -> None:
    for line in iter(stream.readline, ""):
        put(line)
    put("")  # the end


def read_until(proc: subprocess.Popen, text: str, seen: list[str], timeout: float) -> None:
    """Reads the tutor's stdout line by line (into `seen`) until a line holds `text`."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        try:
            line = proc.lines.get(timeout=left)  # type: ignore[attr-defined]
        except queue.Empty:
            break
        if not line:
            break
        seen.append(line)
        if text in line:
            return
    raise AssertionError(f"never saw {text!r}:\n{''.join(seen)}\n{''.join(proc.err)}")  # type: ignore[attr-defined]


def finish(proc: subprocess.Popen, timeout: float, seen: list[str] | None = None) -> tuple[int, str]:
    """Waits for the tutor to exit; returns its exit code and everything it printed (stdout, then stderr)."""
    try:
        code = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        code = None
    for reader in proc.readers:  # type: ignore[attr-defined]
        reader.join(timeout=5)
    seen = seen if seen is not None else []
    while True:
        try:
            line = proc.lines.get_nowait()  # type: ignore[attr-defined]
        except queue.Empty:
            break
        seen.append(line)
    output = "".join(seen) + "".join(proc.err)  # type: ignore[attr-defined]
    assert code is not None, f"the tutor had not exited {timeout:.0f} s on:\n{output}"
    return code, output


def kill_everything(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    for pid in marked(proc.mark):  # type: ignore[attr-defined]
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass
