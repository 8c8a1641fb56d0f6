"""`gpt2tutor list`: every step with its status and the hints used, and a progress bar (or JSON)."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from ..curriculum import STEPS
from .common import WorkspaceOption, console, open_workspace
from .display import next_step_hint, overview
from .session import load_state


def list_steps(
    as_json: Annotated[bool, typer.Option("--json", help='Print only JSON, for scripts: {"steps": [{"step", '
                                                         '"title", "status", "hints_used"}, ...]}.')] = False,
    workspace: WorkspaceOption = None,
) -> None:
    """List the steps: number, title, status (locked · todo · passed · changed since passed) and the
    hints you used, with your progress."""
    ws = open_workspace(workspace)
    state = load_state(ws)
    if as_json:
        steps = [{"step": s.id, "title": s.title, "status": state.status(s, ws),
                  "hints_used": state.record(s).hints_used} for s in STEPS]
        json.dump({"steps": steps}, sys.stdout)
        sys.stdout.write("\n")
        return
    out = console()
    out.print(overview(state, ws))
    out.print()
    out.print(next_step_hint(state))


def register(app: typer.Typer) -> None:
    app.command("list")(list_steps)
