"""`gpt2tutor show [NN]`: the step's lesson, rendered in the terminal (or `show serve`: a command's lesson)."""

from __future__ import annotations

import typer
from rich.markup import escape

from .. import api
from .common import PROG, ForceOption, StepArgument, WorkspaceOption, console
from .flow import Flow
from .render import Renderer


def show(step: StepArgument = None, force: ForceOption = False, workspace: WorkspaceOption = None) -> None:
    """Show the lesson of a step (default: your current step), or `show serve`: how serving works. Any step's
    lesson can be read, as in `gpt2tutor book`; a locked one says what to pass first."""
    from rich.markdown import Markdown  # markdown-it and pygments: loaded when a lesson is drawn, not for --help
    from rich.rule import Rule

    named = api.lesson(step) if step is not None else None
    if named is not None:
        out = console()
        out.print(Rule(escape(named.title)))
        out.print(Markdown(named.text))
        out.print(Rule())
        return
    picked = api.step(step) if step is not None else None  # a bad step is the error, before any other
    tutor = api.open(workspace)
    state = tutor.load_and_repair_state(on_event=Renderer(console(stderr=True)))
    chosen = picked or state.current
    out = console()
    blockers = [] if force else state.blockers(chosen)
    if blockers:  # reading ahead is fine: its hints and its check wait until it unlocks
        steps = f"step{'s' if len(blockers) > 1 else ''} {', '.join(s.id for s in blockers)}"
        out.print(Flow(f"Step {chosen.id} is locked: pass {steps} first ([bold]{PROG} check {blockers[0].id}[/]). "
                       "Its lesson is here to read ahead; its hints and its check open with it.", style="yellow"))
    out.print(Rule(f"Step {chosen.id} · {escape(chosen.title)}"))
    out.print(Markdown(chosen.lesson))
    out.print(Rule())
    out.print(f"Your file: [bold]{escape(str(tutor.exercise(chosen)))}[/]  ·  open it: [bold]{PROG} open {chosen.id}[/]"
              f"  ·  check it: [bold]{PROG} check {chosen.id}[/]  ·  stuck: [bold]{PROG} hint {chosen.id}[/]")


def register(app: typer.Typer) -> None:
    app.command("show")(show)
