"""Turning check outcomes into progress: checking steps, recording what they gave, and rebuilding the
learner's progress by re-checking in order (the rules `check`, `watch` and `start` share).

Nothing here prints: callers pass callbacks for results as they arrive and render what comes back.
Nothing here imports MAX or numpy at module level; the runner is imported when checks run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

from .registry import STEPS, Step
from .state import State, StepRecord
from .workspace import Workspace, edited, imported_steps

if TYPE_CHECKING:
    from .checking.results import Result, StepOutcome


class Checker(Protocol):
    """What runs a list of steps' checks: `check_steps` below, or a test's stand-in."""

    def __call__(self, ws: Workspace, steps: Sequence[Step], *, timeout: float | None = None,
                 on_result: Callable[[Result], None] | None = None,
                 on_progress: Callable[[object], None] | None = None,
                 stop_before: Callable[[Step], bool] | None = None,
                 cancel: Callable[[], bool] | None = None) -> list[StepOutcome]: ...


def check_steps(ws: Workspace, steps: Sequence[Step], *, timeout: float | None = None,
                on_result: Callable[[Result], None] | None = None,
                on_progress: Callable[[object], None] | None = None,
                stop_before: Callable[[Step], bool] | None = None,
                spares=None, prestarted=None, cancel: Callable[[], bool] | None = None) -> list[StepOutcome]:
    """Runs the steps' checks in order in a child process; returns the outcome of each step that ran,
    with the hash its file had when the run began. `spares`, a runner.SpareChecker, runs them in its
    spare process (`watch`); `prestarted`, a spare taken from the background process, runs the first.
    `cancel`: see runner.run_checks."""
    from .checking.runner import run_checks

    hashes = {s.id: ws.file_hash(s) for s in steps}
    kwargs = dict(timeout=timeout, on_result=on_result, on_progress=on_progress, stop_before=stop_before,
                  cancel=cancel)
    if spares is not None:
        outcomes = spares.run(steps, **kwargs)
    else:
        outcomes = run_checks(steps, ws.exercises, prestarted=prestarted, **kwargs)
    for outcome in outcomes:
        outcome.file_hash = hashes[outcome.step.id]
    return outcomes


def apply_outcomes(state: State, outcomes: Sequence[StepOutcome]) -> None:
    """Records each outcome that is a verdict on its step's own file. One that is not (`outcome.cause`: the time
    limit ended it, or another file failed first) changes nothing: a passed step stays passed, the next one open."""
    for outcome in outcomes:
        if not outcome.cause:
            state.mark(outcome.step, outcome.passed, outcome.file_hash)


def _keeping_hints(old: State) -> State:
    return State(steps={sid: StepRecord(hints_used=rec.hints_used) for sid, rec in old.steps.items()})


def rebuild(ws: Workspace, old: State, *, force: bool = False, checker: Checker = check_steps,
            **run_kwargs) -> tuple[State, list[StepOutcome]]:
    """Re-checks the steps in order; returns the state their outcomes give, and the outcomes.

    A step is checked when the new outcomes unlock it (so from a fresh state the run stops at the first
    failing step), or it was unlocked in `old` (so `check --all` re-checks every step that was unlocked),
    or always with `force`. Steps never checked keep their old record, and so do steps whose outcome is no
    verdict on their own file (`StepOutcome.cause`); hints used are kept.
    """
    new = _keeping_hints(old)
    on_result = run_kwargs.pop("on_result", None)
    seen: dict[str, list[Result]] = {}

    def collect(result: Result) -> None:
        seen.setdefault(result.step, []).append(result)
        if on_result is not None:
            on_result(result)

    def allowed(step: Step) -> bool:
        return force or old.unlocked(step) or new.unlocked(step)

    def stop_before(step: Step) -> bool:
        for sid, results in seen.items():  # the steps settled so far
            if any(not r.passed and r.cause for r in results):  # no verdict: as it was
                new.steps[sid].passed = old.steps[sid].passed
            else:
                new.steps[sid].passed = all(r.passed for r in results)
        return not allowed(step)

    outcomes: list[StepOutcome] = []
    todo = list(STEPS)
    while todo:
        ran = checker(ws, todo, on_result=collect, stop_before=stop_before, **run_kwargs)
        outcomes += ran
        if len(ran) == len(todo):
            break
        # todo[len(ran)] is locked by the new outcomes; only a step unlocked in `old` can follow it
        todo = todo[len(ran) + 1:]
        while todo and not allowed(todo[0]):
            todo.pop(0)
    state = _keeping_hints(old)
    checked = {o.step.id for o in outcomes if not o.cause}
    for step in STEPS:
        if step.id not in checked:
            state.steps[step.id] = old.record(step)
    apply_outcomes(state, outcomes)
    return state, outcomes


def reachable(ws: Workspace, old: State, force: bool = False) -> list[Step]:
    """The steps a rebuild may check: unlocked ones, and those whose file is no longer the skeleton."""
    if force:
        return list(STEPS)
    return [s for s in STEPS if old.unlocked(s) or (ws.exercise(s).exists() and edited(ws, s))]


def stale_dependencies(ws: Workspace, state: State, step: Step) -> list[tuple[Step, str]]:
    """For a failing step: the earlier files it builds on that changed since they passed or don't pass,
    each with why."""
    found = []
    for dep in imported_steps(ws, step):
        status = state.status(dep, ws)
        if status == "changed":
            found.append((dep, "which changed since it passed"))
        elif status != "passed":
            found.append((dep, "which does not pass its checks"))
    return found
