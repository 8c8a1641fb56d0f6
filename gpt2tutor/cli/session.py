"""The learner's progress as the commands see it: loading it (a corrupt file is rebuilt by re-checking,
visibly), saving it, choosing the step a command works on, and running checks with their display."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape

from .. import grading
from .. import state as state_store
from ..curriculum import STEPS, Step
from ..state import State
from ..workspace import Workspace
from . import warmup
from .common import PROG, CliError, console, open_workspace, optional_step
from .display import ResultPrinter, summary

if TYPE_CHECKING:  # the runner pulls in numpy: imported when checks run, not for `--help`
    from ..checking.results import Result, StepOutcome


def save_state(ws: Workspace, state: State) -> None:
    try:
        state_store.save(ws, state)
    except OSError as exc:
        raise CliError(f"cannot save your progress to {ws.state_file}: {exc.strerror or exc}") from None


def load_state(ws: Workspace, *, timeout: float | None = None) -> State:
    """The learner's progress. A corrupt state.json is never silently reset: state.load has backed it
    up; we say so and rebuild the progress by re-checking the steps in order. A workspace from an older
    tutor is migrated first (migration.py), with one notice."""
    migrate_workspace(ws, timeout=timeout)
    try:
        return state_store.load(ws)
    except state_store.CorruptState as exc:
        err = console(stderr=True)
        err.print(
            f"[yellow bold]Your progress file could not be read[/]: {escape(exc.reason)}.\n"
            f"The damaged file was kept at [bold]{escape(str(exc.backup))}[/].\n"
            "Rebuilding your progress by re-checking your exercises in order (hints used are reset).",
            markup=True,
        )
        state, _ = rebuild(ws, State(), err, timeout=timeout)
        save_state(ws, state)
        err.print(f"Progress rebuilt: {state.passed_count()} of {len(STEPS)} steps pass.\n")
        return state
    except OSError as exc:
        raise CliError(f"cannot read {ws.state_file}: {exc.strerror or exc}") from None


def migrate_workspace(ws: Workspace, *, timeout: float | None = None) -> None:
    from ..migration import migrate, needs_migration  # runs checks: numpy, only when a workspace is old

    if not needs_migration(ws):
        return
    try:
        with console(stderr=True).status("Updating your workspace to this gpt2tutor's course…"):
            done = migrate(ws, timeout=timeout)
    except OSError as exc:
        raise CliError(f"cannot update the workspace {ws.root} to this gpt2tutor: {exc.strerror or exc}") from None
    if done is not None:
        console(stderr=True).print(f"[yellow bold]Workspace updated.[/] {escape(done.notice())}\n", markup=True)


def require_unlocked(state: State, step: Step, force: bool) -> None:
    blockers = state.blockers(step)
    if force or not blockers:
        return
    if len(blockers) == 1:
        raise CliError(f"step {step.id} is locked: pass step {blockers[0].id} first "
                       f"(`{PROG} check {blockers[0].id}`), or use --force")
    raise CliError(f"step {step.id} is locked: it needs every earlier step passed, still to pass: "
                   f"{', '.join(s.id for s in blockers)} (or use --force)")


def resolve_step(arg: str | None, workspace: Path | None, force: bool, *, writable: bool = False,
                 timeout: float | None = None) -> tuple[Workspace, State, Step]:
    """The workspace, the learner's progress, and the step a command works on (default: the current
    one), refusing a locked step unless forced."""
    picked = optional_step(arg)
    ws = open_workspace(workspace, writable=writable)
    state = load_state(ws, timeout=timeout)
    chosen = picked or state.current
    require_unlocked(state, chosen, force)
    return ws, state, chosen


def rebuild(ws: Workspace, old: State, ui: Console, *, timeout: float | None = None, force: bool = False,
            printer: Callable[[Result], None] | None = None) -> tuple[State, list[StepOutcome]]:
    """grading.rebuild with the tutor's display: a spinner and a line per step, or `printer` for every
    result as it comes."""
    warmup.ensure_warm(ui, grading.reachable(ws, old, force))
    activity = warmup.CheckActivity("Re-checking your steps in order…")
    with ui.status(activity) if printer is None else nullcontext():
        state, outcomes = grading.rebuild(ws, old, force=force, timeout=timeout, on_result=printer,
                                          on_progress=activity)
    if printer is None:
        for outcome in outcomes:
            mark = "[green]✓[/]" if outcome.passed else "[red]✗[/]"
            ui.print(f"  {mark} step {outcome.step.id} · {escape(outcome.step.title)}: "
                     f"{'passes' if outcome.passed else 'does not pass'}")
    return state, outcomes


def check_and_record(ws: Workspace, step: Step, ui: Console, *, timeout: float | None = None,
                     show: bool = True, warm=None) -> tuple[StepOutcome, State]:
    """Checks one step (showing each result as it comes unless `show` is off), records the outcome in
    a freshly loaded state (another command may have changed it meanwhile), saves it and, when shown,
    summarises; returns the outcome and the saved state."""
    activity = warmup.CheckActivity(f"Checking step {step.id}…")
    with ui.status(activity) if show else nullcontext():
        outcome, = grading.check_steps(ws, [step], timeout=timeout, on_result=ResultPrinter(ui) if show else None,
                                       on_progress=activity, warm=warm)
    state = load_state(ws, timeout=timeout)
    grading.apply_outcomes(state, [outcome])
    save_state(ws, state)
    if show:
        summary(ui, step, outcome.results, state)
    if not outcome.passed:
        for note in dependency_notes(ws, state, step):
            ui.print(f"[yellow]{escape(note)}[/]")
    return outcome, state


def dependency_notes(ws: Workspace, state: State, step: Step) -> list[str]:
    """For a failing step: a line for each earlier file it builds on that changed or doesn't pass."""
    return [f"{step.module} builds on {dep.filename}, {why} — run `{PROG} check {dep.id}`"
            for dep, why in grading.stale_dependencies(ws, state, step)]
