"""Preparing MAX's kernel cache before the first check, visibly, and skippable with Ctrl-C.

MAX compiles its eager kernels the first time it runs on a machine. `max warm-interpreter-cache`
does it all at once (printing a line like `✓ binary (123 ops) 0:03:08` per op family); without it
every check process compiles what it touches, slowly. This module only runs that command with a
progress display: it is meant to be swapped for something faster later.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console

from .. import maxenv

_skipped = False  # the learner skipped the warm-up in this process: don't ask again

FAMILIES = 20  # about how many op families the command compiles
CORE_MINUTES = 16.0  # measured: about 8 minutes on 2 cores


def estimate_minutes(cores: int | None = None) -> float:
    cores = cores or os.cpu_count() or 1
    return max(1.0, CORE_MINUTES / min(cores, FAMILIES))


def command() -> list[str]:
    """`max warm-interpreter-cache`, from the same environment as this Python when possible."""
    sibling = Path(sys.executable).with_name("max")
    if sibling.is_file() and os.access(sibling, os.X_OK):
        return [str(sibling), "warm-interpreter-cache"]
    found = shutil.which("max")
    if found:
        return [found, "warm-interpreter-cache"]
    return [sys.executable, "-c", "import sys; from max._entrypoints.pipelines import main; sys.exit(main())",
            "warm-interpreter-cache"]


def ensure_warm(ui: Console) -> bool:
    """Warms the cache when it is cold, showing progress on `ui`; returns whether it is warm now.
    Ctrl-C skips the warm-up (the checks then compile as they go) rather than ending the command."""
    global _skipped
    if _skipped:
        return False
    if maxenv.cache_is_warm():
        return True
    cores = os.cpu_count() or 1
    ui.print(
        "[bold]MAX compiles its kernels the first time it runs on a machine.[/] Preparing them now with "
        f"`max warm-interpreter-cache`: about {estimate_minutes(cores):.0f} min with {cores} "
        f"CPU core{'s' if cores != 1 else ''}, once per machine.\n"
        "Meanwhile, `gpt2tutor show` in another terminal has the lesson. Press [bold]Ctrl-C[/] to skip: the "
        "checks then compile what they need as they go, more slowly."
    )
    try:
        code, tail = _run(ui)
    except KeyboardInterrupt:
        _skipped = True
        ui.print("[yellow]Warm-up skipped.[/] Run `max warm-interpreter-cache` later to make the checks fast.")
        return False
    except OSError as exc:
        _skipped = True
        ui.print(f"[yellow]Could not run `max warm-interpreter-cache` ({exc.strerror or exc}).[/] "
                 "The checks will compile kernels as they go.")
        return False
    if code != 0:
        _skipped = True
        ui.print(f"[yellow]`max warm-interpreter-cache` stopped with exit code {code}; the checks will compile "
                 "kernels as they go.[/]")
        if tail:
            ui.print(tail, markup=False)
        return False
    ui.print("[green]MAX's kernels are ready.[/]")
    return True


def _run(ui: Console) -> tuple[int, str]:
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(command(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, errors="replace", bufsize=1, env=env, start_new_session=True)
    done, lines, started = 0, [], time.monotonic()
    estimate = estimate_minutes() * 60
    progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                        TextColumn("{task.completed:.0f}/~{task.total:.0f} op families"), TimeElapsedColumn(),
                        TextColumn("{task.fields[left]}"), console=ui, transient=True)
    try:
        with progress:
            task = progress.add_task("Compiling MAX kernels", total=FAMILIES, left=_left(estimate))
            for raw in proc.stdout:
                line = raw.strip()
                if not line:
                    continue
                lines = (lines + [line])[-20:]
                if line.startswith(("✓", "✔")):
                    done += 1
                    elapsed = time.monotonic() - started
                    left = elapsed / done * max(FAMILIES - done, 0) if done else estimate - elapsed
                    family = line.lstrip("✓✔ ").split(" (")[0]
                    progress.update(task, completed=done, total=max(FAMILIES, done), left=_left(left),
                                    description=f"Compiled {family}")
                    progress.console.print(f"  {line}", markup=False, style="dim")
            code = proc.wait()
    except BaseException:
        _kill(proc)
        raise
    return code, "\n".join(lines[-5:])


def _left(seconds: float) -> str:
    if seconds <= 0:
        return "almost done"
    return f"~{max(1, round(seconds / 60))} min left"


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=5)
    except (ProcessLookupError, PermissionError):
        pass
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
