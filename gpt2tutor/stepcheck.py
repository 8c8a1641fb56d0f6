"""Checking steps: one pipeline from a chosen step to its recorded verdict, used by `check`, `watch`, `start`
and a script alike.

The step comes in parsed and the progress read once (statefile); the lock is decided here, once; the check
runs (waiting for MAX's kernels where the background compiles them); a step declared `compiled` adds its
compiled-graph verdict (gpt2tutor.compiled); the outcome is recorded on the progress read at the start, read
again only if another command wrote it meanwhile.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

from . import background, compiled, kernels, statefile, waiting
from .checking.results import TIME_LIMIT
from .errors import TutorError
from .events import Notice, OnEvent, StepSettled, ignore
from .names import DEVICE_ENV, PROG
from .progress import apply_outcomes, check_steps, reachable, stale_dependencies
from .progress import rebuild as rebuild_progress
from .registry import STEPS, Step, following
from .state import CorruptState, State
from .workspace import Workspace


@dataclass
class CheckReport:
    """One step's check: its results in order, whether it passes, and what it says about earlier files."""

    step: Step
    results: list
    state: State
    notes: list[str] = field(default_factory=list)  # earlier files it builds on that changed or don't pass
    cause: str = ""  # the run was no verdict on the step's own file, so nothing was recorded (StepOutcome.cause)

    @property
    def passed(self) -> bool:
        return bool(self.results) and all(r.passed for r in self.results)

    @property
    def first_failure(self):
        return next((r for r in self.results if not r.passed), None)


@dataclass
class RebuildReport:
    """`check --all`: every step checked in order, and the progress their outcomes give."""

    outcomes: list
    state: State

    @property
    def results(self) -> list:
        return [r for o in self.outcomes for r in o.results]

    @property
    def passed(self) -> bool:
        return bool(self.results) and all(r.passed for r in self.results)


# --- the progress a command starts from --------------------------------------------------------------------

def load_state(ws: Workspace, *, timeout: float | None = None,
               on_event: OnEvent = ignore) -> tuple[State, statefile.Stamp]:
    """The progress, read once: migrated when the workspace is older, and rebuilt by re-checking the steps in
    order when the file is damaged (never silently reset: the damaged file is kept as a backup)."""
    try:
        return statefile.load(ws, timeout=timeout, on_event=on_event)
    except CorruptState as exc:
        on_event(Notice(f"Your progress file could not be read: {exc.reason}.\nThe damaged file was kept at "
                        f"{exc.backup}.\nRebuilding your progress by re-checking your exercises in order "
                        "(hints used are reset).", "warning"))
        state = rebuild(ws, State(), timeout=timeout, on_event=on_event, settle=True)[0]
        seen = statefile.save(ws, state)
        on_event(Notice(f"Progress rebuilt: {state.passed_count()} of {len(STEPS)} steps pass."))
        return state, seen


def require_unlocked(state: State, chosen: Step, force: bool) -> None:
    """The lock rule: a step opens when its prerequisites pass, or when forced."""
    blockers = state.blockers(chosen)
    if force or not blockers:
        return
    if len(blockers) == 1:
        raise TutorError(f"step {chosen.id} is locked: pass step {blockers[0].id} first "
                         f"(`{PROG} check {blockers[0].id}`), or use --force")
    raise TutorError(f"step {chosen.id} is locked: it needs every earlier step passed, still to pass: "
                     f"{', '.join(s.id for s in blockers)} (or use --force)")


# --- one step ---------------------------------------------------------------------------------------------

def check(ws: Workspace, chosen: Step, state: State, seen: statefile.Stamp, *, timeout: float | None = None,
          on_event: OnEvent = ignore, spares=None, cancel: Callable[[], bool] | None = None) -> CheckReport:
    """Checks `chosen` (unlocked already), records the outcome on `state` and returns it. See Tutor.check."""
    from .checking import spares as spare_processes

    waiting.wait_for_kernels([chosen], who=f"step {chosen.id}", on_event=on_event)
    taken = spare_processes.claim(ws.exercises) if spares is None else None
    try:
        outcome, = check_steps(ws, [chosen], timeout=timeout, on_result=on_event, on_progress=on_event,
                               spares=spares, prestarted=taken, cancel=cancel)
    finally:
        if spares is None and spare_processes.enabled():
            spare_processes.want(ws.exercises)  # the next check finds one ready
            background.launch_if_needed()
    compiled.judge(chosen, outcome, ws.exercises, on_event)
    state = statefile.fresh(ws, state, seen, timeout=timeout)
    apply_outcomes(state, [outcome])
    statefile.save(ws, state)
    report = CheckReport(chosen, outcome.results, state, cause=outcome.cause)
    if outcome.cause:
        report.notes = [not_judged_note(state, chosen, outcome.cause)]
    elif not report.passed:
        report.notes = dependency_notes(ws, state, chosen)
    else:
        compiled.queue(ws, state, on_event)
    return report


def dependency_notes(ws: Workspace, state: State, chosen: Step) -> list[str]:
    """For a failing step: a line for each earlier file it builds on that changed or doesn't pass."""
    return [f"{chosen.module} builds on {dep.filename}, {why} — run `{PROG} check {dep.id}`"
            for dep, why in stale_dependencies(ws, state, chosen)]


def not_judged_note(state: State, chosen: Step, cause: str) -> str:
    """For a check that was no verdict on the step's own file: what stopped it, and that nothing was recorded."""
    nxt = following(chosen)
    if state.record(chosen).passed:
        kept = f"step {chosen.id} stays passed" + (f" and step {nxt.id} open" if nxt and state.unlocked(nxt) else "")
    else:
        kept = f"step {chosen.id} stays as it was"
    if cause == TIME_LIMIT:
        return f"The time limit stopped the check before a verdict, so nothing was recorded: {kept}."
    other = next((s for s in STEPS if s.filename == cause), None)
    then = f", then `{PROG} check {other.id}`" if other is not None else ""
    return (f"{cause}, another step's file, failed first, so step {chosen.id} was not judged and nothing was "
            f"recorded: {kept}. Fix {cause}{then}.")


# --- every step -------------------------------------------------------------------------------------------

def check_all(ws: Workspace, state: State, *, force: bool = False, timeout: float | None = None,
              on_event: OnEvent = ignore, settle: bool = False) -> RebuildReport:
    """Checks every unlocked step in order (every step, forced) and rebuilds the progress from the results;
    `settle`: a StepSettled event for each step checked, at the end."""
    new_state, outcomes = rebuild(ws, state, timeout=timeout, force=force, on_event=on_event, settle=settle)
    for outcome in outcomes:
        if outcome.step.compiled:
            compiled.judge(outcome.step, outcome, ws.exercises, on_event)
            apply_outcomes(new_state, [outcome])
    statefile.save(ws, new_state)
    compiled.queue(ws, new_state, on_event)
    return RebuildReport(outcomes, new_state)


def rebuild(ws: Workspace, old: State, *, timeout=None, force=False, on_event: OnEvent = ignore, settle=False):
    """The progress re-checking the steps gives, and their outcomes (progress.rebuild, with the kernels
    waited for first)."""
    waiting.wait_for_kernels(reachable(ws, old, force) or None, who="every step", on_event=on_event)
    state, outcomes = rebuild_progress(ws, old, force=force, timeout=timeout, on_result=on_event,
                                       on_progress=on_event)
    if settle:
        for outcome in outcomes:
            on_event(StepSettled(outcome.step.id, outcome.step.title, outcome.passed))
    return state, outcomes


# --- how checks run ---------------------------------------------------------------------------------------

def default_timeout() -> float:
    """The seconds one step's checks may take: the timeout variable, else 120 (a TutorError for a bad value)."""
    from .checking.runner import default_timeout as limit

    return limit()


def run_checks_on(device: str | None) -> str:
    """`check --device`: where check processes run the learner's code (the children read DEVICE_ENV; None: that
    variable, else the CPU). On a GPU the CPU's kernel batches and the spare processes that preload them don't
    apply, so they are off."""
    from .device import resolve_device

    name = resolve_device(device or os.environ.get(DEVICE_ENV) or "cpu")
    if name != "cpu" or DEVICE_ENV in os.environ:  # the CPU is the children's default: the environment (and so
        os.environ[DEVICE_ENV] = name  # the spare process that fits it) stays as the learner's shell made it
    if name == "gpu":
        os.environ[kernels.ENV_SWITCH] = "0"
    return name
