"""`gpt2tutor hint [NN]`: the next hint tier of a step — a nudge first, a near-solution last."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.markdown import Markdown
from rich.panel import Panel

from ..curriculum import DEBUGGING_GUIDE, Step, debugging_guide
from ..workspace import Workspace
from .common import PROG, CliError, ForceOption, StepArgument, WorkspaceOption, console
from .session import load_state, resolve_step, save_state


def show_next_hint(ws: Workspace, step: Step, out: Console) -> None:
    """Prints the step's next hint tier and records it (the last tier again once all are used)."""
    tiers, labels = step.hints, step.hint_labels
    if not tiers:
        raise CliError(f"step {step.id} has no hints", code=1)
    state = load_state(ws)  # fresh: `watch` calls this long after it loaded the state
    rec = state.record(step)
    if rec.hints_used >= len(tiers):
        index = len(tiers) - 1
        out.print(f"[yellow]No more hints for step {step.id}[/]: here is the last one again. "
                  f"If you are still stuck, `{PROG} solution {step.id}` shows the reference answer.")
    else:
        index = rec.hints_used
        rec.hints_used += 1
        save_state(ws, state)
    out.print(Panel(Markdown(tiers[index]),
                    title=f"Step {step.id} · hint {index + 1} of {len(tiers)}: {labels[index]}",
                    title_align="left"))
    if index + 1 < len(tiers):
        out.print(f"Still stuck? `{PROG} hint {step.id}` again gives the next tier ({labels[index + 1]}).")
    out.print(f"To look inside your tensors: `{PROG} hint --debugging` ({DEBUGGING_GUIDE}).")


def hint(
    step: StepArgument = None,
    debugging: Annotated[bool, typer.Option(
        "--debugging", help=f"Show '{DEBUGGING_GUIDE}' instead: printing tensors, shapes and dtypes.")] = False,
    force: ForceOption = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Show the next hint for a step (default: your current step): a nudge first, then the concept,
    then a near-solution. The hints you use are recorded in your progress."""
    if debugging:
        console().print(Markdown(debugging_guide()))
        return
    ws, _state, chosen = resolve_step(step, workspace, force, writable=True)
    show_next_hint(ws, chosen, console())


def register(app: typer.Typer) -> None:
    app.command("hint")(hint)
