"""`gpt2tutor solution NN [--yes]`: the reference solution, as a file that passes the step."""

from __future__ import annotations

import sys

import typer

from .. import api
from .common import RequiredStepArgument, WorkspaceOption, YesOption, confirm, console, stdout_is_tty


def solution(step: RequiredStepArgument, yes: YesOption = False, workspace: WorkspaceOption = None) -> None:
    """Print the reference solution of a step. Until the step passes, it asks first.

    Off a terminal it prints the bare file, so `gpt2tutor solution 07 --yes > exercises/step_07.py`
    gives a passing exercise (keep a copy of yours first!).
    """
    chosen = api.step(step)
    tutor = api.open(workspace)
    if not tutor.passed(chosen):
        confirm(f"Step {chosen.id} has not passed yet. Show the reference solution anyway?", yes=yes,
                what=f"showing the solution of step {chosen.id} before it passes")
    text = tutor.solution(chosen)
    if stdout_is_tty():
        from rich.syntax import Syntax

        out = console()
        out.print(f"[bold]Reference solution for step {chosen.id} · {chosen.title}[/]")
        out.print(Syntax(text, "python", background_color="default", word_wrap=False))
        out.print(f"[dim]To use it as your file (keep a copy of yours first): "
                  f"gpt2tutor solution {chosen.id} --yes > exercises/{chosen.filename}[/]")
    else:
        sys.stdout.write(text)
        sys.stdout.flush()


def register(app: typer.Typer) -> None:
    app.command("solution")(solution)
