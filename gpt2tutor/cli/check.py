"""`gpt2tutor check [NN] [--all] [--json]`: run a step's checks and record the outcome."""

from __future__ import annotations

import json
import sys
from contextlib import nullcontext
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
    current_step,
    load_state,
    open_workspace,
    optional_step,
    require_unlocked,
    save_state,
)
from .display import ResultPrinter, next_step_hint, overview, summary
from .runs import check_steps, dependency_notes, rebuild_state


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
            new_state, run = rebuild_state(ws, state, ui=ui, timeout=timeout, force=force, printer=printer)
            save_state(ws, new_state)
            results = run.all_results()
            ok = bool(results) and all(r.passed for r in results)
            if not as_json:
                ui.print()
                ui.print(overview(new_state, ws))
                ui.print()
                ui.print(next_step_hint(new_state))
        else:
            chosen = chosen or current_step(state)
            require_unlocked(state, chosen, force)
            warmup.ensure_warm(err, [chosen])
            if not as_json:
                ui.print(f"[bold]Checking step {chosen.id} · {escape(chosen.title)}[/] "
                         f"({escape(str(ws.exercise(chosen)))})\n")
            activity = warmup.CheckActivity(f"Checking step {chosen.id}…")
            spinner = ui.status(activity) if not as_json else nullcontext()
            with spinner:
                run = check_steps(ws, [chosen], timeout=timeout,
                                  on_result=None if as_json else ResultPrinter(ui), on_progress=activity)
            results = run.results.get(chosen.id, [])
            ok = run.passed(chosen)
            state.mark(chosen, ok, run.hashes.get(chosen.id))
            save_state(ws, state)
            if not as_json:
                summary(ui, chosen, results, state)
            if not ok:
                for note in dependency_notes(ws, state, chosen):
                    ui.print(f"[yellow]{escape(note)}[/]")
            elif not as_json:
                ui.print(next_step_hint(state))
    except KeyboardInterrupt:
        err.print("\nInterrupted: nothing was recorded.")
        raise typer.Exit(130) from None

    if as_json:
        sys.stdout.write(json.dumps([r.to_json() for r in results], indent=2) + "\n")
        sys.stdout.flush()
    raise typer.Exit(0 if ok else 1)


def register(app: typer.Typer) -> None:
    app.command("check")(check)
