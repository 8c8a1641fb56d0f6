"""Plumbing every command shares: options and arguments, errors, consoles, the workspace and the state.

Kept light on purpose: `gpt2tutor --help` imports this, so nothing here may import MAX, torch or
transformers at module level.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape

from .. import state as state_store
from ..curriculum import STEPS, Step, UnknownStep, get_step
from ..state import State
from ..workspace import Workspace, WorkspaceError, locate

PROG = "gpt2tutor"


class CliError(Exception):
    """A problem the learner can fix: printed as one line on stderr, then the process exits with `code`."""

    def __init__(self, message: str, code: int = 2):
        super().__init__(message)
        self.message = message
        self.code = code


# --- options and arguments, declared once --------------------------------------------------------

WorkspaceOption = Annotated[
    Optional[Path],
    typer.Option(
        "--workspace", "-w", metavar="DIR", show_default=False,
        help="The workspace folder. Default: $GPT2TUTOR_WORKSPACE, else the nearest folder upward holding .gpt2tutor/.",
    ),
]
StepArgument = Annotated[
    Optional[str],
    typer.Argument(metavar="NN", show_default=False,
                   help="The step: 7, 07 or step_07. Default: your current step."),
]
RequiredStepArgument = Annotated[str, typer.Argument(metavar="NN", help="The step: 7, 07 or step_07.")]
ForceOption = Annotated[bool, typer.Option("--force", help="Open a step that is still locked.")]
YesOption = Annotated[
    bool, typer.Option("--yes", "-y", help="Don't ask for confirmation (required when stdin is not a terminal).")
]
TimeoutOption = Annotated[
    Optional[float],
    typer.Option("--timeout", metavar="SECONDS", min=1, show_default=False,
                 help="Time limit for one step's checks (default: $GPT2TUTOR_TIMEOUT, else 120)."),
]


# --- terminals ------------------------------------------------------------------------------------

def console(*, stderr: bool = False) -> Console:
    """A console for the current streams (made per call: tests swap sys.stdout). Honours NO_COLOR;
    plain text when the stream is not a terminal."""
    return Console(stderr=stderr, highlight=False)


def _isatty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def stdin_is_tty() -> bool:
    return _isatty(sys.stdin)


def stdout_is_tty() -> bool:
    return _isatty(sys.stdout)


def one_line(message: str) -> str:
    return " ".join(part.strip() for part in str(message).splitlines() if part.strip())


def print_error(message: str) -> None:
    """The one line every learner-fixable error becomes, on stderr."""
    sys.stderr.write(f"{PROG}: error: {one_line(message)}\n")
    sys.stderr.flush()


def confirm(question: str, *, yes: bool, what: str) -> None:
    """Asks `question` on the terminal; without one, `--yes` is required. Declining exits 1."""
    if yes:
        return
    if not stdin_is_tty():
        raise CliError(f"{what} needs confirmation and stdin is not a terminal: pass --yes")
    if not typer.confirm(question, default=False, err=True):
        console(stderr=True).print("Nothing done.")
        raise typer.Exit(1)


# --- steps ----------------------------------------------------------------------------------------

def parse_step(arg: str) -> Step:
    try:
        return get_step(arg)
    except UnknownStep as exc:
        raise CliError(str(exc)) from None


def optional_step(arg: str | None) -> Step | None:
    """The step named by an optional argument; parse it before anything else runs."""
    return parse_step(arg) if arg is not None else None


def current_step(state: State) -> Step:
    return STEPS[state.current - 1]


def resolve_step(arg: str | None, workspace: Path | None, force: bool, *, writable: bool = False,
              timeout: float | None = None) -> tuple[Workspace, State, Step]:
    """The workspace, the learner's progress, and the step a command works on (default: the current
    one), refusing a locked step unless forced."""
    picked = optional_step(arg)
    ws = open_workspace(workspace, writable=writable)
    state = load_state(ws, timeout=timeout)
    chosen = picked or current_step(state)
    require_unlocked(state, chosen, force)
    return ws, state, chosen


def require_unlocked(state: State, step: Step, force: bool) -> None:
    if force or state.unlocked(step):
        return
    if step.needs_every_earlier:
        todo = [s.id for s in step.requires(STEPS) if not state.record(s).passed]
        raise CliError(f"step {step.id} is locked: it needs every earlier step passed, still to pass: "
                       f"{', '.join(todo)} (or use --force)")
    before = step.requires(STEPS)[-1]
    raise CliError(f"step {step.id} is locked: pass step {before.id} first (`{PROG} check {before.id}`), "
                   f"or use --force")


# --- workspace and state --------------------------------------------------------------------------

def open_workspace(explicit: Path | None, *, writable: bool = False) -> Workspace:
    """The workspace from --workspace / $GPT2TUTOR_WORKSPACE / the folders upward, ready to use."""
    try:
        ws = locate(explicit)
        ws.check_usable()
    except WorkspaceError as exc:
        raise CliError(str(exc)) from None
    if writable:
        require_writable(ws)
    return ws


def require_writable(ws: Workspace) -> None:
    for folder in (ws.meta, ws.exercises):
        if not os.access(folder, os.W_OK):
            raise CliError(f"cannot write to {folder}: the workspace is read-only")


def save_state(ws: Workspace, state: State) -> None:
    try:
        state_store.save(ws, state)
    except OSError as exc:
        raise CliError(f"cannot save your progress to {ws.state_file}: {exc.strerror or exc}") from None


def load_state(ws: Workspace, *, timeout: float | None = None) -> State:
    """The learner's progress. A corrupt state.json is never silently reset: it was backed up by
    state.load; we say so and rebuild the progress by re-checking the steps in order. A workspace from
    an older tutor is migrated first (migration.py), with one notice."""
    migrate_workspace(ws, timeout=timeout)
    try:
        return state_store.load(ws)
    except state_store.CorruptState as exc:
        from .runs import rebuild_state  # runs the checks: imported only when needed

        err = console(stderr=True)
        err.print(
            f"[yellow bold]Your progress file could not be read[/]: {escape(exc.reason)}.\n"
            f"The damaged file was kept at [bold]{escape(str(exc.backup))}[/].\n"
            "Rebuilding your progress by re-checking your exercises in order (hints used are reset).",
            markup=True,
        )
        state, _ = rebuild_state(ws, State(), ui=err, timeout=timeout)
        save_state(ws, state)
        passed = sum(1 for s in STEPS if state.record(s).passed)
        err.print(f"Progress rebuilt: {passed} of {len(STEPS)} steps pass.\n")
        return state
    except OSError as exc:
        raise CliError(f"cannot read {ws.state_file}: {exc.strerror or exc}") from None


def migrate_workspace(ws: Workspace, *, timeout: float | None = None) -> None:
    from ..migration import migrate, needs_migration

    if not needs_migration(ws):
        return
    try:
        with console(stderr=True).status("Updating your workspace to this gpt2tutor's course…"):
            done = migrate(ws, timeout=timeout)
    except OSError as exc:
        raise CliError(f"cannot update the workspace {ws.root} to this gpt2tutor: {exc.strerror or exc}") from None
    if done is not None:
        console(stderr=True).print(f"[yellow bold]Workspace updated.[/] {escape(done.notice())}\n", markup=True)
