"""`gpt2tutor check [NN] [--all] [--json]`: run a step's checks and record the outcome."""

from __future__ import annotations

import json
import sys
import threading
import time
from contextlib import contextmanager, nullcontext
from typing import Annotated

import typer
from rich.markup import escape

from .. import api
from ..api import duration
from ..names import DEVICE_ENV
from .common import ForceOption, StepArgument, TimeoutOption, WorkspaceOption, console
from .render import Renderer, ResultPrinter, next_step_hint, overview, summary

ALIVE_EVERY = 15.0  # seconds between the lines that say a check still runs, off a terminal


def check(
    step: StepArgument = None,
    all_steps: Annotated[bool, typer.Option(
        "--all", help="Check every unlocked step in order and rebuild your progress from the results.")] = False,
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print only JSON: a list of {step, phase, name, passed, message, cause}; a failure's cause, "
                       "when set, says it is no verdict on the step's own file (\"time limit\", or the other file "
                       "that failed), so nothing was recorded.")] = False,
    timeout: TimeoutOption = None,
    force: ForceOption = False,
    device: Annotated[str | None, typer.Option(
        "--device", metavar="cpu|gpu", show_default=False,
        help=f"Run your code on this device (default: ${DEVICE_ENV}, else the CPU); a GPU's results are judged "
             "against the CPU's references with a tolerance that fits its arithmetic.")] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Run a step's checks (default: your current step) and record whether it passes.

    Exit status: 0 when every check passes, 1 when one fails, 2 on a usage error, 130 on Ctrl-C
    (nothing is recorded then).
    """
    if all_steps and step is not None:
        raise api.TutorError("give a step or --all, not both")
    picked = api.step(step) if step is not None else None  # the one parse: a bad step is the error, before any other
    api.run_checks_on(device)
    tutor = api.open(workspace, writable=True)
    ui = console(stderr=as_json)  # with --json, stdout holds the JSON alone
    err = console(stderr=True)
    view = Renderer(ui, err)
    state = tutor.load_and_repair_state(timeout=timeout, on_event=view)  # the one read of state.json
    try:
        if all_steps:
            view.results = None if as_json else ResultPrinter(ui, step_headings=True)
            with view.live("Re-checking your steps in order…", console=ui) if as_json else nullcontext():
                report = tutor.check_all(force=force, timeout=timeout, on_event=view, settle=as_json, state=state)
            if not as_json:
                ui.print()
                ui.print(overview(tutor, report.state))
                ui.print()
                ui.print(next_step_hint(report.state))
        else:
            chosen, state = tutor.choose(picked, force=force, state=state)  # the one decision on the lock
            if not as_json:
                ui.print(f"[bold]Checking step {chosen.id} · {escape(chosen.title)}[/] "
                         f"({escape(str(tutor.exercise(chosen)))})\n")
                view.results = ResultPrinter(ui)
            limit = duration(timeout if timeout is not None else api.default_timeout())
            with view.live(f"Checking step {chosen.id} (time limit {limit})…", console=ui), \
                    still_running(ui, f"step {chosen.id}", limit):
                report = tutor.run_check(chosen, state, timeout=timeout, on_event=view)
            if not as_json:
                summary(ui, report)
            for note in report.notes:
                ui.print(f"[yellow]{escape(note)}[/]")
            if report.passed and not as_json:
                ui.print(next_step_hint(report.state))
    except KeyboardInterrupt:
        err.print("\nInterrupted: nothing was recorded.")
        raise typer.Exit(130) from None

    if as_json:
        sys.stdout.write(json.dumps([r.to_json() for r in report.results], indent=2) + "\n")
        sys.stdout.flush()
    raise typer.Exit(0 if report.passed else 1)


@contextmanager
def still_running(ui, what: str, limit: str):
    """Off a terminal (where no live panel ticks), a line every ALIVE_EVERY seconds while the block runs."""
    if ui.is_terminal:
        yield
        return
    done, started = threading.Event(), time.monotonic()

    def tell() -> None:
        while not done.wait(ALIVE_EVERY):
            ui.print(f"… still checking {what}: {duration(time.monotonic() - started)} so far (time limit {limit})")

    teller = threading.Thread(target=tell, daemon=True)
    teller.start()
    try:
        yield
    finally:
        done.set()
        teller.join()


def register(app: typer.Typer) -> None:
    app.command("check")(check)
