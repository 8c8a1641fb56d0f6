"""`gpt2tutor open [NN]`: the exercise file in $VISUAL / $EDITOR (or its path)."""

from __future__ import annotations

import typer

from .. import api
from .common import ForceOption, StepArgument, WorkspaceOption


def open_step(step: StepArgument = None, force: ForceOption = False, workspace: WorkspaceOption = None) -> None:
    """Open a step's exercise file in $VISUAL or $EDITOR; with neither set, print its path."""
    chosen = api.step(step) if step is not None else None  # a bad step is the error, before any other
    path = api.open(workspace).edit(chosen, force=force)
    if path is not None:
        typer.echo(str(path))


def register(app: typer.Typer) -> None:
    app.command("open")(open_step)
