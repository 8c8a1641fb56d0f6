"""`gpt2tutor watch [NN]`: re-check a step every time its file is saved.

File events come from watchfiles, which polls by itself where events don't work (on WSL, or with
WATCHFILES_FORCE_POLLING set; `--poll` asks for it). Every half second the files' contents are compared
anyway (their hashes), so a save whose event never arrives (a network mount, another machine writing)
is still seen within a tick, and a save while a check runs stops that check and starts the new one (an
endless loop no longer holds the watch for the whole time limit). After a pass, Enter (or `n`) moves on to
the next step; `h` shows the next hint tier; `q` quits. On a terminal each key acts at once (cbreak mode,
restored on exit); elsewhere keys are lines.
"""

from __future__ import annotations

import os
import queue
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from .. import api
from ..registry import Step, following
from .common import PROG, ForceOption, StepArgument, TimeoutOption, WorkspaceOption, console
from .hint import show_hint
from .render import Renderer, ResultPrinter, summary

TICK_MS = 500  # the longest a save goes unnoticed when no file event arrives


class Keys:
    """Keys pressed on a terminal (cbreak mode while watching: no Enter needed), else lines typed on stdin;
    read in a background thread so watching never blocks on the keyboard. Use it as a context manager:
    leaving it restores the terminal's settings, on Ctrl-C too."""

    def __init__(self) -> None:
        self._lines: queue.Queue[str] = queue.Queue()
        self._restore = None
        self.single = False  # True: one key at a time

    def __enter__(self) -> Keys:
        try:
            fd = sys.stdin.fileno()
            if os.isatty(fd):
                import termios
                import tty

                saved = termios.tcgetattr(fd)
                tty.setcbreak(fd)
                self._restore = lambda: termios.tcsetattr(fd, termios.TCSADRAIN, saved)
                self.single = True
        except (AttributeError, OSError, ValueError, ImportError):  # not a real file, or no termios (Windows)
            pass
        threading.Thread(target=self._read, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        if self._restore is not None:
            self._restore()
            self._restore = None

    def _read(self) -> None:
        try:
            fd = sys.stdin.fileno()
        except (AttributeError, OSError, ValueError):
            fd = None
        try:
            if fd is None:  # not a real file (tests): read the stream itself
                for line in sys.stdin:
                    self._lines.put(line.strip().lower())
                return
            pending = b""
            while True:  # raw reads: no buffered-reader lock held at interpreter shutdown
                chunk = os.read(fd, 1024)
                if not chunk:
                    return
                if self.single:
                    for char in chunk.decode("utf-8", "replace"):
                        self._lines.put("" if char in "\r\n" else char.lower())
                    continue
                pending += chunk
                while b"\n" in pending:
                    line, pending = pending.split(b"\n", 1)
                    self._lines.put(line.decode("utf-8", "replace").strip().lower())
        except (OSError, ValueError):
            return

    def get(self) -> str | None:
        try:
            return self._lines.get_nowait()
        except queue.Empty:
            return None


def ticks(folder: Path, polling: bool, ui: Console) -> Iterator[set]:
    """Yields the changes under `folder` as they come, and an empty set at least every TICK_MS (the caller
    compares the files' contents on each). `polling`: poll instead of waiting for events; otherwise
    watchfiles decides (it polls on WSL, or when WATCHFILES_FORCE_POLLING says so)."""
    import watchfiles

    try:
        yield from watchfiles.watch(
            folder, watch_filter=lambda change, path: path.endswith(".py"), debounce=400, step=50,
            rust_timeout=TICK_MS, yield_on_timeout=True, force_polling=True if polling else None,
            raise_interrupt=True)
    except (OSError, RuntimeError) as exc:  # e.g. no inotify watches left: the content comparison still runs
        ui.print(f"[yellow]File events are unavailable here ({escape(str(exc))}); comparing the files every "
                 f"{TICK_MS / 1000:g} s instead.[/]")
    while True:  # the folder went away, or events failed
        time.sleep(TICK_MS / 1000)
        yield set()


def watch(
    step: StepArgument = None,
    poll: Annotated[bool, typer.Option(
        "--poll", help="Poll for changes instead of waiting for file events (watchfiles does so by itself on "
                       "WSL; a save is seen within half a second either way).")] = False,
    timeout: TimeoutOption = None,
    force: ForceOption = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Re-run a step's checks every time you save its file (default: your current step).

    Press h for the next hint tier. After a pass, press Enter (or n) to move on to the next step;
    q quits, and so does Ctrl-C. (Without a terminal, type the letter and Enter.)
    """
    picked = api.step(step) if step is not None else None  # a bad step is the error, before any other
    api.run_checks_on(None)  # `check --device`'s variable holds here too
    tutor = api.open(workspace, writable=True)
    out, err = console(), console(stderr=True)
    chosen, _ = tutor.choose(picked, force=force, timeout=timeout, on_event=Renderer(out, err))
    polling = poll
    checker = tutor.spares()  # keeps a check process ready for the next save
    try:
        with Keys() as keys:
            while chosen is not None:
                chosen = _watch_step(tutor, chosen, out, keys, polling, timeout, checker)
    except KeyboardInterrupt:
        out.print("\nStopped watching.")
        raise typer.Exit(130) from None
    finally:
        checker.close()


def _check_once(tutor: api.Tutor, step: Step, out: Console, timeout: float | None, checker=None) -> tuple[bool, tuple]:
    """Checks the step; a save meanwhile stops that check and starts one of the new version. Returns whether
    it passes, and the contents (`Tutor.stamp`) the verdict is for."""
    while True:
        stamp = tutor.stamp(step)
        out.rule(f"step {step.id} · {escape(step.title)} · {time.strftime('%H:%M:%S')}")
        view = Renderer(out, console(stderr=True), results=ResultPrinter(out))
        try:
            with view.live(f"Checking step {step.id}…"):
                report = tutor.run_check(step, timeout=timeout, on_event=view, spares=checker,
                                     cancel=lambda stamp=stamp: tutor.stamp(step) != stamp)
        except api.CheckCancelled:
            out.print("[yellow]Saved again while the check ran: it was stopped, and the new version is checked.[/]")
            continue
        summary(out, report)
        for note in report.notes:
            out.print(f"[yellow]{escape(note)}[/]")
        return report.passed, stamp


def _watch_step(tutor: api.Tutor, step: Step, out: Console, keys: Keys, polling: bool,
                timeout: float | None, checker=None) -> Step | None:
    """Watches one step until the learner moves on (returns the next step) or presses Ctrl-C."""
    passed, last = _check_once(tutor, step, out, timeout, checker)
    nxt = following(step)
    press = "press" if keys.single else "type"
    then = "" if keys.single else " and Enter"
    stop = f"[bold]q[/]{then} (or Ctrl-C) to stop"

    def prompt() -> None:
        how = " (polling)" if polling else ""
        if passed and nxt is not None:
            out.print(f"Press [bold]Enter[/] (or {press} [bold]n[/]{then}) to move on to step {nxt.id} · "
                      f"{escape(nxt.title)}; or keep editing. {press.capitalize()} {stop}.")
        else:
            out.print(f"Watching [bold]{escape(str(tutor.exercise(step)))}[/]{how}: save it to re-check, "
                      f"{press} [bold]h[/]{then} for a hint, {press} {stop}.")

    prompt()
    for _changes in ticks(tutor.exercises, polling, out):
        key = keys.get()
        if key is not None:
            if key in ("q", "quit", "exit"):
                return None
            if key in ("h", "hint"):
                show_hint(tutor.next_hint(step), out, again=f"{press.capitalize()} [bold]h[/]{then} again for")
                prompt()
                continue
            if key in ("", "n", "next"):
                if not passed:
                    out.print(f"Step {step.id} does not pass yet: keep going (or `{PROG} watch NN --force` to jump).")
                elif nxt is None:
                    out.print("That was the last step: well done! Try `gpt2tutor generate`.")
                elif not tutor.load_and_repair_state().unlocked(nxt):
                    out.print(f"Step {nxt.id} is still locked: every earlier step must pass first "
                              f"(`{PROG} list` shows which).")
                else:
                    return nxt
        if tutor.stamp(step) != last:
            passed, last = _check_once(tutor, step, out, timeout, checker)
            prompt()
    return None


def register(app: typer.Typer) -> None:
    app.command("watch")(watch)
