"""Ending a process and everything it started: its process group, and every descendant found by walking the
process tree (psutil, which MAX already depends on), so that one that left the group with setsid() goes too."""

from __future__ import annotations

import os
import signal


def descendants(pid: int) -> list[int]:
    """Every process below `pid`, children of children too (empty when it is gone)."""
    import psutil

    try:
        return [p.pid for p in psutil.Process(pid).children(recursive=True)]
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return []


def alive(pid: int) -> bool:
    """Whether `pid` runs: one that ended but is not reaped yet (a zombie) counts as gone."""
    import psutil

    if pid <= 0:  # no process of ours (0 would name a process group to os.kill)
        return False
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


def kill_tree(pid: int, sig: int = signal.SIGKILL) -> None:
    """Sends `sig` to the process group led by `pid` (a process started with start_new_session) and to every
    descendant of `pid`, wherever it went; never raises for a process already gone."""
    below = descendants(pid)  # before the group dies: orphans are re-parented and can no longer be found
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass
    for child in below:
        try:
            os.kill(child, sig)
        except (ProcessLookupError, PermissionError):
            pass


def become_subreaper() -> bool:
    """Linux: orphans among this process's descendants are re-parented to it rather than to init, so a
    process the learner's code started (and detached with setsid(), or left behind) stays findable below it.
    Returns whether it worked (False elsewhere)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        return False


def end_descendants() -> None:
    """Kills every process below this one (before it exits: a subreaper's orphans included)."""
    for pid in descendants(os.getpid()):
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def die_with_parent() -> None:
    """Linux: this process gets SIGKILL when its parent ends, however the parent ends (a spare check process
    must not outlive the background process that keeps it)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
