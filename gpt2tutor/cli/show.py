"""`gpt2tutor show [NN]`: the step's lesson, rendered in the terminal."""

from __future__ import annotations

import typer
from rich.markdown import Markdown
from rich.markup import escape
from rich.rule import Rule

from .common import PROG, ForceOption, StepArgument, WorkspaceOption, console
from .session import resolve_step


# Lessons that belong to a command, not a step: `gpt2tutor show serve`.
COMMAND_LESSONS = {"serve": ("Serving your GPT-2 with max serve", "serve.md")}


def show(step: StepArgument = None, force: ForceOption = False, workspace: WorkspaceOption = None) -> None:
    """Show the lesson of a step (default: your current step), or `show serve`: how serving works."""
    if step in COMMAND_LESSONS:
        _show_command_lesson(*COMMAND_LESSONS[step])
        return
    ws, state, chosen = resolve_step(step, workspace, force)
    lesson = chosen.lesson
    out = console()
    out.print(Rule(f"Step {chosen.id} · {escape(chosen.title)}"))
    out.print(Markdown(lesson))
    out.print(Rule())
    out.print(f"Your file: [bold]{escape(str(ws.exercise(chosen)))}[/]  ·  open it: [bold]{PROG} open {chosen.id}[/]"
              f"  ·  check it: [bold]{PROG} check {chosen.id}[/]  ·  stuck: [bold]{PROG} hint {chosen.id}[/]")


def _show_command_lesson(title: str, filename: str) -> None:
    from importlib import resources

    out = console()
    out.print(Rule(escape(title)))
    out.print(Markdown(resources.files("gpt2tutor.lessons").joinpath(filename).read_text(encoding="utf-8")))
    out.print(Rule())


def register(app: typer.Typer) -> None:
    app.command("show")(show)
