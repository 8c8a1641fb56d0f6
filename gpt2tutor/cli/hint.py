"""`gpt2tutor hint [NN]`: the next hint tier of a step — nudge, then concept, then near-solution."""

from __future__ import annotations

import typer
from rich.markdown import Markdown
from rich.panel import Panel

from .common import PROG, CliError, ForceOption, StepArgument, WorkspaceOption, console
from .display import HINT_TIERS
from .session import resolve_step, save_state


def hint(step: StepArgument = None, force: ForceOption = False, workspace: WorkspaceOption = None) -> None:
    """Show the next hint for a step (default: your current step): a nudge first, then the concept,
    then a near-solution. The hints you use are recorded in your progress."""
    ws, state, chosen = resolve_step(step, workspace, force, writable=True)
    tiers = chosen.hints
    if not tiers:
        raise CliError(f"step {chosen.id} has no hints", code=1)
    rec = state.record(chosen)
    out = console()
    if rec.hints_used >= len(tiers):
        index = len(tiers) - 1
        out.print(f"[yellow]No more hints for step {chosen.id}[/]: here is the last one again. "
                  f"If you are still stuck, `{PROG} solution {chosen.id}` shows the reference answer.")
    else:
        index = rec.hints_used
        rec.hints_used += 1
        save_state(ws, state)
    tier = HINT_TIERS[index] if index < len(HINT_TIERS) else f"hint {index + 1}"
    out.print(Panel(Markdown(tiers[index]), title=f"Step {chosen.id} · hint {index + 1} of {len(tiers)}: {tier}",
                    title_align="left"))
    if index + 1 < len(tiers):
        following = HINT_TIERS[index + 1] if index + 1 < len(HINT_TIERS) else "the next one"
        out.print(f"Still stuck? `{PROG} hint {chosen.id}` again gives the next tier ({following}).")


def register(app: typer.Typer) -> None:
    app.command("hint")(hint)
