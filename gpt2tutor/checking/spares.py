"""Check processes started ahead by the background process, so a `check` doesn't wait for MAX's import.

A check runs the learner's code in a fresh process of its own; starting one (Python, MAX's import, the
kernel batches) costs about as much as the checks. So after a check, the command asks for a spare
(`want`): the background process (gpt2tutor.background) starts `python -m gpt2tutor.checking.child --spare
SLOT`, which prepares everything but the learner's code and then waits, blocked on a named pipe, for its
order. The next `check` of the same exercises folder, in the same environment, takes it (`claim`: an atomic
rename of its slot, so two commands never share one), writes the steps and the files to report into down
the pipe, and follows it as it would a process of its own (`Claimed`). The learner's files are imported
afresh, stdin is closed, and whatever their code does dies with that process. The background process, its
parent, reaps it and writes its exit status where the command reads it.

A spare is used only by the same installation of the tutor (gpt2tutor.installation: the same interpreter and
the same code, so a check never runs in another virtual environment's Python), for the same kernel batches it
loaded, and an environment of the same fingerprint; else the command starts a process of its own, as without
spares. The background process keeps spares only for requests of its own installation: two installations that
share a MAX cache share its compiles, never a check process.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from .. import __version__, installation, kernels
from ..files import write_atomic
from ..names import SEED_ENV, TIMEOUT_ENV, WORKSPACE_ENV
from ..processes import alive, kill_tree
from .protocol import stack_path

IDLE_S = 15 * 60.0  # the background process keeps spares this long after the last request
# Variables that differ between two shells without changing what a check computes
VOLATILE = {"PWD", "OLDPWD", "SHLVL", "_", "COLUMNS", "LINES", "TERM", "TERM_PROGRAM", "COLORTERM", "NO_COLOR",
            "FORCE_COLOR", SEED_ENV, TIMEOUT_ENV, WORKSPACE_ENV, "PS1", "SSH_TTY",
            "WINDOWID", "SHELL_SESSION_ID", "TMUX_PANE", "PYTHONUNBUFFERED"}


def enabled() -> bool:
    return kernels.background_enabled() and hasattr(os, "mkfifo")


def folder() -> Path:
    return kernels.state_dir() / "spares"


def fingerprint(env: dict[str, str]) -> str:
    kept = sorted((k, v) for k, v in env.items() if k not in VOLATILE)
    return hashlib.sha256(json.dumps(kept).encode()).hexdigest()[:16]


def slot(exercises: Path, env: dict[str, str]) -> Path:
    """The folder of the spare for these exercises in this environment, for this installation."""
    key = f"{exercises.resolve()}\0{fingerprint(env)}\0{installation.identity()}"
    return folder() / hashlib.sha256(key.encode()).hexdigest()[:16]


def want(exercises: Path, env: dict[str, str] | None = None) -> Path:
    """Asks the background process to keep a spare ready for the next check of these exercises."""
    env = dict(os.environ if env is None else env)
    where = slot(exercises, env)
    write_atomic(where.with_suffix(".want"), json.dumps({"exercises": str(exercises.resolve()), "env": env,
                                                         "at": time.time(),
                                                         "installation": installation.identity()}))
    return where


@dataclass(frozen=True)
class Wanted:
    slot: Path
    exercises: Path
    env: dict
    at: float
    installation: str  # installation.identity() of the command that asked


def wanted() -> list[Wanted]:
    """This installation's requests of the last IDLE_S seconds, newest first; older ones (any installation's)
    are removed. Another installation's requests are its own background process's to serve."""
    found = []
    for path in folder().glob("*.want") if folder().is_dir() else []:
        try:
            data = json.loads(path.read_text("utf-8"))
            entry = Wanted(path.with_suffix(""), Path(data["exercises"]), dict(data["env"]), float(data["at"]),
                           str(data.get("installation", "")))
        except (OSError, ValueError, KeyError, TypeError):
            path.unlink(missing_ok=True)
            continue
        if time.time() - entry.at > IDLE_S:
            path.unlink(missing_ok=True)
        elif entry.installation == installation.identity():
            found.append(entry)
    return sorted(found, key=lambda w: -w.at)


def exit_path(pid: int) -> Path:
    return folder() / "exits" / f"{pid}.json"


def ready_record(where: Path) -> dict | None:
    try:
        return json.loads((where / "ready.json").read_text("utf-8"))
    except (OSError, ValueError):
        return None


def mark_ready(where: Path) -> None:
    """In the spare, once prepared: who it is (its installation, as it sees itself) and what it loaded."""
    write_atomic(where / "ready.json", json.dumps({"pid": os.getpid(), "version": __version__,
                                                   "installation": installation.identity(),
                                                   "batches": sorted(kernels.compiled_ids()), "at": time.time()}))


def fits(record: dict | None) -> bool:
    """Whether a spare that wrote this ready record may run this process's checks: the same installation (its
    interpreter and its code), the same kernel batches, and still running."""
    return (record is not None and record.get("version") == __version__
            and record.get("installation") == installation.identity()
            and set(record.get("batches", [])) == kernels.compiled_ids() and alive(int(record.get("pid", 0))))


# --- the command's end: taking a spare, and following it --------------------------------------------------

class Claimed:
    """A spare this command took: used as the runner uses a process of its own (`proc`, `output`, `results`)."""

    def __init__(self, where: Path, pid: int):
        self.where, self.pid = where, pid
        self.results = where / "results.jsonl"
        self.results.touch()
        self.output_path = where / "output.txt"
        self.output_path.touch()
        self.proc = _Process(pid)
        self.output = _OutputFile(self.output_path)
        self.used = False

    def usable_for(self, exercises: Path) -> bool:
        return not self.used and alive(self.pid)

    def go(self, steps, seed: int | None) -> None:
        """Hands the spare its order, through its pipe (OSError when it went away meanwhile)."""
        self.used = True
        order = {"steps": [s.id for s in steps], "seed": seed, "results": str(self.results),
                 "output": str(self.output_path)}
        fd = os.open(self.where / "order", os.O_WRONLY | os.O_NONBLOCK)  # ENXIO: nobody reads it any more
        try:
            os.write(fd, (json.dumps(order) + "\n").encode())
        finally:
            os.close(fd)

    def close(self) -> None:
        if alive(self.pid):
            kill_tree(self.pid)
        for path in (self.results, stack_path(self.results), self.output_path, self.where / "ready.json",
                     self.where / "order"):
            path.unlink(missing_ok=True)
        try:
            self.where.rmdir()
        except OSError:
            pass


class _Process:
    """What the runner needs of a Popen, for a process whose parent is the background process."""

    def __init__(self, pid: int):
        self.pid = pid
        self.returncode: int | None = None
        self._gone_at: float | None = None

    def poll(self) -> int | None:
        """Its exit status once its parent wrote it; None while it runs. Gone for over a second with no status
        written (its parent busy or gone): 1."""
        if self.returncode is None:
            try:
                self.returncode = int(json.loads(exit_path(self.pid).read_text("utf-8"))["code"])
            except (OSError, ValueError, KeyError, TypeError):
                if not alive(self.pid):
                    self._gone_at = self._gone_at or time.monotonic()
                    if time.monotonic() - self._gone_at > 1.0:
                        self.returncode = 1
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        """Its exit status, as its parent (the background process) writes it once it reaps it; a process that
        is gone without one (its parent is busy, or went away) reads as 1 after a short grace."""
        deadline = time.monotonic() + (timeout if timeout is not None else 30.0)
        while self.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        exit_path(self.pid).unlink(missing_ok=True)
        return self.returncode if self.returncode is not None else 1


class _OutputFile:
    """The last characters the spare's stdout and stderr wrote (its output goes to a file)."""

    def __init__(self, path: Path):
        self.path = path

    def text(self) -> str:
        from .runner import OUTPUT_TAIL

        try:
            with open(self.path, "rb") as f:
                f.seek(0, 2)
                f.seek(max(0, f.tell() - 4 * OUTPUT_TAIL))
                return f.read().decode("utf-8", "replace")[-OUTPUT_TAIL:]
        except OSError:
            return ""


def claim(exercises: Path) -> Claimed | None:
    """The spare ready for these exercises in this environment, taken by this command; None when there is
    none that fits (the command then starts a process of its own)."""
    if not enabled():
        return None
    where = slot(exercises, dict(os.environ))
    record = ready_record(where)
    if not fits(record):
        return None
    taken = where.with_name(f"{where.name}.{os.getpid()}-{time.monotonic_ns()}")
    try:
        os.rename(where, taken)  # atomic: of two commands, one gets it
    except OSError:
        return None
    return Claimed(taken, int(record["pid"]))


# --- the background process's end: keeping spares ----------------------------------------------------------

class Keeper:
    """In the background process: one spare ready for each recent request, restarted when used or stale."""

    def __init__(self):
        import threading

        self.children: dict[int, tuple[object, Path]] = {}  # pid -> (Popen, its slot when started)
        self.lock = threading.RLock()  # the background process tends its spares from two threads

    def tend(self) -> bool:
        """One round: reaps the spares that ended (writing their exit status), starts the missing ones.
        Returns whether any request is still recent (else the caller may stop)."""
        with self.lock:
            self.reap()
            requests = wanted()
            for request in requests[:2]:  # the two most recent workspaces, at most
                record = ready_record(request.slot)
                stale = record is not None and (set(record.get("batches", [])) != kernels.compiled_ids()
                                                or record.get("version") != __version__)
                if stale:
                    self.stop(request.slot)
                if not self.running(request.slot):
                    self.start(request)
            return bool(requests)

    def running(self, where: Path) -> bool:
        """Whether a spare of this slot still runs: preparing, ready, or taken and checking. The next one starts
        once a taken one ends, so that it does not take the cores from the check the learner waits for."""
        return any(w == where and p.poll() is None for p, w in self.children.values())

    def start(self, request: Wanted) -> None:
        import subprocess
        import sys

        where = request.slot
        where.mkdir(parents=True, exist_ok=True)
        (where / "ready.json").unlink(missing_ok=True)
        pipe = where / "order"
        if not pipe.exists():
            os.mkfifo(pipe)
        env = {**request.env, "PYTHONUNBUFFERED": "1"}
        proc = subprocess.Popen([sys.executable, "-m", "gpt2tutor.checking.child", "--exercises",
                                 str(request.exercises), "--spare", str(where)], stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                                cwd=request.exercises if request.exercises.is_dir() else None, env=env)
        self.children[proc.pid] = (proc, where)

    def reap(self) -> None:
        with self.lock:
            for pid, (proc, _) in list(self.children.items()):
                code = proc.poll()
                if code is not None:
                    write_atomic(exit_path(pid), json.dumps({"code": code}))
                    del self.children[pid]

    def stop_idle(self) -> bool:
        """With no recent request: ends the spares nobody took. Returns whether a taken one still runs (its
        exit status is still to be written)."""
        with self.lock:
            self.stop()
            self.reap()
            return bool(self.children)

    def stop(self, where: Path | None = None) -> None:
        """Ends the spares (of one slot, or all) that nobody took."""
        with self.lock:
            for pid, (proc, slot_) in list(self.children.items()):
                if (where is None or slot_ == where) and (slot_ / "order").exists():  # not taken by a command
                    kill_tree(pid)
                    proc.wait()
                    del self.children[pid]
                    for name in ("ready.json", "order"):
                        (slot_ / name).unlink(missing_ok=True)
