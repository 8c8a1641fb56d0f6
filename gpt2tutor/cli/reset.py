"""`gpt2tutor reset NN [--yes]`: put the pristine skeleton back, keeping a backup of the learner's file."""

from __future__ import annotations

import typer
from rich.markup import escape

from .. import api
from .common import RequiredStepArgument, WorkspaceOption, YesOption, confirm, console


def reset(step: RequiredStepArgument, yes: YesOption = False, workspace: WorkspaceOption = None) -> None:
    """Restore a step's exercise file to the pristine skeleton. Your file is first copied into
    .gpt2tutor/backups/, and the step is marked as not passed."""
    chosen = api.step(step)
    tutor = api.open(workspace, writable=True)
    state = tutor.load_and_repair_state()  # an old or damaged workspace is put right before the question
    path = tutor.exercise(chosen)
    confirm(f"Replace {path} with the pristine skeleton? (your file is backed up first)", yes=yes,
            what=f"resetting step {chosen.id}")
    backup = tutor.reset(chosen, state)
    out = console()
    out.print(f"Step {chosen.id}: [bold]{escape(str(path))}[/] is the pristine skeleton again.")
    if backup is not None:
        out.print(f"Your previous file is saved at [bold]{escape(str(backup))}[/]")
    else:
        out.print("(There was no file to back up.)")


def register(app: typer.Typer) -> None:
    app.command("reset")(reset)
