"""`gpt2tutor reset NN [--yes]`: put the pristine skeleton back, keeping a backup of the learner's file."""

from __future__ import annotations

import typer
from rich.markup import escape

from .common import CliError, RequiredStepArgument, WorkspaceOption, YesOption, confirm, console, open_workspace, parse_step
from .session import load_state, save_state


def reset(step: RequiredStepArgument, yes: YesOption = False, workspace: WorkspaceOption = None) -> None:
    """Restore a step's exercise file to the pristine skeleton. Your file is first copied into
    .gpt2tutor/backups/, and the step is marked as not passed."""
    chosen = parse_step(step)
    ws = open_workspace(workspace, writable=True)
    state = load_state(ws)
    path = ws.exercise(chosen)
    confirm(f"Replace {path} with the pristine skeleton? (your file is backed up first)", yes=yes,
            what=f"resetting step {chosen.id}")
    try:
        backup = ws.restore_skeleton(chosen)
    except OSError as exc:
        raise CliError(f"cannot reset {path}: {exc.strerror or exc}") from None
    state.mark(chosen, False, None)
    save_state(ws, state)
    out = console()
    out.print(f"Step {chosen.id}: [bold]{escape(str(path))}[/] is the pristine skeleton again.")
    if backup is not None:
        out.print(f"Your previous file is saved at [bold]{escape(str(backup))}[/]")
    else:
        out.print("(There was no file to back up.)")


def register(app: typer.Typer) -> None:
    app.command("reset")(reset)
