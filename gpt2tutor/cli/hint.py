"""`gpt2tutor hint [NN]`: the next hint tier of a step — a nudge first, a near-solution last."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from .. import api
from .common import PROG, ForceOption, StepArgument, WorkspaceOption, console

if TYPE_CHECKING:
    from rich.console import Console


def show_hint(hint: api.Hint, out: Console, *, again: str | None = None) -> None:
    """Draws a hint tier; `again` says how to get the next one where that is not `gpt2tutor hint NN` (`watch`:
    "Press h again for")."""
    from rich.panel import Panel

    from .flow import lesson_markdown  # markdown-it and pygments: loaded when a hint is drawn, not for --help

    step = hint.step
    if hint.repeated:
        out.print(f"[yellow]No more hints for step {step.id}[/]: here is the last one again. "
                  f"If you are still stuck, `{PROG} solution {step.id}` shows the reference answer.")
    out.print(Panel(lesson_markdown(hint.text), title=f"Step {step.id} · hint {hint.index + 1} of {hint.total}: {hint.label}",
                    title_align="left"))
    if hint.next_label is not None:
        how = again or f"`{PROG} hint {step.id}` again gives"
        out.print(f"Still stuck? {how} the next tier ({hint.next_label}).")
    out.print(f"To look inside your tensors: `{PROG} hint --debugging` ({api.DEBUGGING_GUIDE}).")


def hint(
    step: StepArgument = None,
    debugging: Annotated[bool, typer.Option(
        "--debugging", help=f"Show '{api.DEBUGGING_GUIDE}' instead: printing tensors, shapes and dtypes.")] = False,
    force: ForceOption = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Show the next hint for a step (default: your current step): a nudge first, then the concept,
    then a near-solution. The hints you use are recorded in your progress."""
    if debugging:
        from rich.markdown import Markdown

        console().print(Markdown(api.debugging_guide()))
        return
    chosen = api.step(step) if step is not None else None  # a bad step is the error, before any other
    tutor = api.open(workspace, writable=True)
    show_hint(tutor.hint(chosen, force=force), console())


def register(app: typer.Typer) -> None:
    app.command("hint")(hint)
