"""MAX's full cache (`max warm-interpreter-cache`), compiled on request: every eager op MAX has, once per
machine, so that no op of the learner's own compiles on first use."""

from __future__ import annotations

import os
from collections.abc import Callable

from . import maxenv

FAMILIES = 20  # about how many op families `max warm-interpreter-cache` compiles
CORE_MINUTES = 16.0  # measured: about 8 minutes on 2 cores


def full_cache_minutes(cores: int | None = None) -> float:
    cores = cores or os.cpu_count() or 1
    return max(1.0, CORE_MINUTES / min(cores, FAMILIES))


def full_cache_command() -> list[str]:
    """`max warm-interpreter-cache`, from the same environment as this Python."""
    return [*maxenv.max_command(), "warm-interpreter-cache"]


def compile_full_cache(on_line: Callable[[str], None] = lambda line: None) -> tuple[int, str]:
    """Runs `max warm-interpreter-cache` (every eager op MAX has, once per machine), giving each line it prints
    to `on_line`; returns its exit code and its last lines. Ctrl-C stops it (and raises KeyboardInterrupt)."""
    import signal
    import subprocess

    env = maxenv.child_environment(PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(full_cache_command(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, errors="replace", bufsize=1, env=env,
                            start_new_session=True)
    lines: list[str] = []
    try:
        for raw in proc.stdout:
            line = raw.strip()
            if line:
                lines = (lines + [line])[-20:]
                on_line(line)
        code = proc.wait()
    except BaseException:
        from .processes import kill_tree

        kill_tree(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            kill_tree(proc.pid)
            proc.wait()
        raise
    return code, "\n".join(lines[-5:])

