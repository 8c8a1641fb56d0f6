"""`gpt2tutor check [NN] [--all] [--json]`: run a step's checks and record the outcome."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.markup import escape

from . import warmup
from .common import (
    CliError,
    ForceOption,
    StepArgument,
    TimeoutOption,
    WorkspaceOption,
    console,
    open_workspace,
    optional_step,
)
from .display import ResultPrinter, next_step_hint, overview
from .session import check_and_record, load_state, rebuild, require_unlocked, save_state


def check(
    step: StepArgument = None,
    all_steps: Annotated[bool, typer.Option(
        "--all", help="Check every unlocked step in order and rebuild your progress from the results.")] = False,
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print only JSON: a list of {step, phase, name, passed, message}.")] = False,
    timeout: TimeoutOption = None,
    force: ForceOption = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Run a step's checks (default: your current step) and record whether it passes.

    Exit status: 0 when every check passes, 1 when one fails, 2 on a usage error, 130 on Ctrl-C
    (nothing is recorded then).
    """
    if all_steps and step is not None:
        raise CliError("give a step or --all, not both")
    chosen = optional_step(step)
    ws = open_workspace(workspace, writable=True)
    ui = console(stderr=as_json)  # with --json, stdout holds the JSON alone
    err = console(stderr=True)
    state = load_state(ws, timeout=timeout)

    try:
        if all_steps:
            printer = None if as_json else ResultPrinter(ui, step_headings=True)
            new_state, outcomes = rebuild(ws, state, ui, timeout=timeout, force=force, printer=printer)
            save_state(ws, new_state)
            results = [r for o in outcomes for r in o.results]
            ok = bool(results) and all(r.passed for r in results)
            if not as_json:
                ui.print()
                ui.print(overview(new_state, ws))
                ui.print()
                ui.print(next_step_hint(new_state))
        else:
            chosen = chosen or state.current
            require_unlocked(state, chosen, force)
            warmup.ensure_warm(err, [chosen])
            if not as_json:
                ui.print(f"[bold]Checking step {chosen.id} · {escape(chosen.title)}[/] "
                         f"({escape(str(ws.exercise(chosen)))})\n")
            outcome, new_state = check_and_record(ws, chosen, ui, timeout=timeout, show=not as_json)
            results, ok = outcome.results, outcome.passed
            if ok and not as_json:
                ui.print(next_step_hint(new_state))
    except KeyboardInterrupt:
        err.print("\nInterrupted: nothing was recorded.")
        raise typer.Exit(130) from None

    if as_json:
        sys.stdout.write(json.dumps([r.to_json() for r in results], indent=2) + "\n")
        sys.stdout.flush()
    raise typer.Exit(0 if ok else 1)


def register(app: typer.Typer) -> None:
    app.command("check")(check)
