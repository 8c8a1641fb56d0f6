"""`gpt2tutor list`: every step with its status and the hints used, and a progress bar (or JSON)."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from .. import api
from .common import WorkspaceOption, console
from .render import Renderer, next_step_hint, overview


def list_steps(
    as_json: Annotated[bool, typer.Option("--json", help='Print only JSON, for scripts: {"steps": [{"step", '
                                                         '"title", "status", "hints_used"}, ...]}.')] = False,
    workspace: WorkspaceOption = None,
) -> None:
    """List the steps: number, title, status (locked · todo · passed · changed since passed) and the
    hints you used, with your progress."""
    tutor = api.open(workspace)
    state = tutor.load_and_repair_state(on_event=Renderer(console(stderr=True)))
    if as_json:
        steps = [{"step": s.step.id, "title": s.step.title, "status": s.status, "hints_used": s.hints_used}
                 for s in tutor.statuses(state)]
        json.dump({"steps": steps}, sys.stdout)
        sys.stdout.write("\n")
        return
    out = console()
    out.print(overview(tutor, state))
    out.print()
    out.print(next_step_hint(state))


def register(app: typer.Typer) -> None:
    app.command("list")(list_steps)
