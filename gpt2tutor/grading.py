"""Checking steps and turning their outcomes into progress: the rules `check`, `watch` and `start` share.

Nothing here prints: callers pass callbacks for results as they arrive and render what comes back.
Nothing here imports MAX or numpy at module level; the runner is imported when checks run.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

from .curriculum import STEPS, Step, get_step
from .state import State, StepRecord
from .workspace import Workspace

if TYPE_CHECKING:
    from .checking.results import Result, StepOutcome


class Checker(Protocol):
    """What runs a list of steps' checks: `check_steps` below, or a test's stand-in."""

    def __call__(self, ws: Workspace, steps: Sequence[Step], *, timeout: float | None = None,
                 on_result: Callable[[Result], None] | None = None,
                 on_progress: Callable[[dict], None] | None = None,
                 stop_before: Callable[[Step], bool] | None = None) -> list[StepOutcome]: ...


def check_steps(ws: Workspace, steps: Sequence[Step], *, timeout: float | None = None,
                on_result: Callable[[Result], None] | None = None,
                on_progress: Callable[[dict], None] | None = None,
                stop_before: Callable[[Step], bool] | None = None,
                warm=None) -> list[StepOutcome]:
    """Runs the steps' checks in order in a child process; returns the outcome of each step that ran,
    with the hash its file had when the run began. `warm`, a runner.WarmChecker, runs them in its
    pre-started child (`watch`)."""
    from .checking.runner import run_checks

    hashes = {s.id: ws.file_hash(s) for s in steps}
    kwargs = dict(timeout=timeout, on_result=on_result, on_progress=on_progress, stop_before=stop_before)
    outcomes = warm.run(steps, **kwargs) if warm is not None else run_checks(steps, ws.exercises, **kwargs)
    for outcome in outcomes:
        outcome.file_hash = hashes[outcome.step.id]
    return outcomes


def apply_outcomes(state: State, outcomes: Sequence[StepOutcome]) -> None:
    for outcome in outcomes:
        state.mark(outcome.step, outcome.passed, outcome.file_hash)


def _keeping_hints(old: State) -> State:
    return State(steps={sid: StepRecord(hints_used=rec.hints_used) for sid, rec in old.steps.items()})


def rebuild(ws: Workspace, old: State, *, force: bool = False, checker: Checker = check_steps,
            **run_kwargs) -> tuple[State, list[StepOutcome]]:
    """Re-checks the steps in order; returns the state their outcomes give, and the outcomes.

    A step is checked when the new outcomes unlock it (so from a fresh state the run stops at the first
    failing step), or it was unlocked in `old` (so `check --all` re-checks every step that was unlocked),
    or always with `force`. Steps never checked keep their old record; hints used are kept.
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
    checked = {o.step.id for o in outcomes}
    for step in STEPS:
        if step.id not in checked:
            state.steps[step.id] = old.record(step)
    apply_outcomes(state, outcomes)
    return state, outcomes


def edited(ws: Workspace, step: Step) -> bool:
    """Whether the learner's file differs from the skeleton (an unreadable file counts as edited)."""
    try:
        return ws.exercise(step).read_text("utf-8") != step.skeleton()
    except (OSError, UnicodeDecodeError):
        return True


def reachable(ws: Workspace, old: State, force: bool = False) -> list[Step]:
    """The steps a rebuild may check: unlocked ones, and those whose file is no longer the skeleton."""
    if force:
        return list(STEPS)
    return [s for s in STEPS if old.unlocked(s) or (ws.exercise(s).exists() and edited(ws, s))]


def imported_steps(ws: Workspace, step: Step) -> list[Step]:
    """Earlier steps the learner's file imports, directly or through those files (by reading them)."""
    seen: set[int] = set()
    todo = [step]
    while todo:
        current = todo.pop()
        try:
            tree = ast.parse(ws.exercise(current).read_text("utf-8"))
        except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
            continue
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            for name in names:
                head = name.split(".")[0]
                if head.startswith("step_") and head[5:].isdigit():
                    number = int(head[5:])
                    if 1 <= number < step.number and number not in seen:
                        seen.add(number)
                        todo.append(get_step(number))
    return [get_step(n) for n in sorted(seen)]


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
