"""`gpt2tutor list`: every step with its status and the hints used, and a progress bar."""

from __future__ import annotations

import typer

from .common import WorkspaceOption, console, open_workspace
from .display import next_step_hint, overview
from .session import load_state


def list_steps(workspace: WorkspaceOption = None) -> None:
    """List the steps: number, title, status (locked · todo · passed · changed since passed) and the
    hints you used, with your progress."""
    ws = open_workspace(workspace)
    state = load_state(ws)
    out = console()
    out.print(overview(state, ws))
    out.print()
    out.print(next_step_hint(state))


def register(app: typer.Typer) -> None:
    app.command("list")(list_steps)
