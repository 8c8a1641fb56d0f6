"""`gpt2tutor open [NN]`: the exercise file in $VISUAL / $EDITOR (or its path)."""

from __future__ import annotations

import os
import shlex
import subprocess

import typer

from ..maxenv import child_environment
from .common import CliError, ForceOption, StepArgument, WorkspaceOption
from .session import resolve_step


def open_step(step: StepArgument = None, force: ForceOption = False, workspace: WorkspaceOption = None) -> None:
    """Open a step's exercise file in $VISUAL or $EDITOR; with neither set, print its path."""
    ws, state, chosen = resolve_step(step, workspace, force)
    path = ws.exercise(chosen)
    if not path.exists():
        raise CliError(f"{path} is missing: `gpt2tutor reset {chosen.id}` puts the skeleton back")
    editor = (os.environ.get("VISUAL") or os.environ.get("EDITOR") or "").strip()
    if not editor:
        typer.echo(str(path))
        return
    try:
        argv = shlex.split(editor)
    except ValueError:
        raise CliError(f"cannot understand the editor command {editor!r} (from $VISUAL/$EDITOR)") from None
    try:
        code = subprocess.call([*argv, str(path)], env=child_environment())
    except OSError as exc:
        raise CliError(f"cannot start the editor {argv[0]!r} (from $VISUAL/$EDITOR): {exc.strerror or exc}; "
                       f"the file is {path}") from None
    if code != 0:
        raise CliError(f"the editor {argv[0]!r} exited with code {code}; the file is {path}", code=1)


def register(app: typer.Typer) -> None:
    app.command("open")(open_step)
