"""Running checks for the CLI: one step, steps in unlocking order (rebuilding the state), and what a
failing step builds on."""

from __future__ import annotations

import ast
from collections.abc import Callable
from contextlib import nullcontext, suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape

from ..curriculum import STEPS, Step, get_step
from ..state import State, StepRecord
from ..workspace import Workspace
from . import warmup
from .common import PROG

if TYPE_CHECKING:  # gpt2tutor.checking pulls in numpy: imported when checks run, not for `--help`
    from ..checking.results import Result
    from ..checking.runner import WarmChecker


@dataclass
class Run:
    """What one run of the checks found, step by step, in order."""
    results: dict[str, list[Result]] = field(default_factory=dict)
    hashes: dict[str, str | None] = field(default_factory=dict)  # each file's hash as it was checked

    def passed(self, step: Step) -> bool:
        results = self.results.get(step.id)
        return bool(results) and all(r.passed for r in results)

    def all_results(self) -> list[Result]:
        return [r for rs in self.results.values() for r in rs]


class _Stop(Exception):
    """Raised from on_result to end a run early (the runner kills its child)."""


def check_steps(ws: Workspace, steps: list[Step], *, timeout: float | None = None,
                on_result: Callable[[Result], None] | None = None,
                keep_going: Callable[[Step, Run], bool] | None = None,
                on_progress: Callable[[dict], None] | None = None,
                checker: WarmChecker | None = None) -> Run:
    """Runs the steps' checks in order in one child process. `keep_going(step, run)` is asked when a
    step's first result arrives; False ends the run there (that step's results are discarded).
    `on_progress` hears what else the child reports (kernels MAX compiles); `checker`, when given,
    runs them in its pre-started child (`watch`)."""
    from ..checking.runner import run_checks

    run = Run(hashes={s.id: ws.file_hash(s) for s in steps})  # hashed before: what was checked

    def collect(result: Result) -> None:
        step = get_step(result.step)
        if step.id not in run.results:
            if keep_going is not None and not keep_going(step, run):
                raise _Stop
            run.results[step.id] = []
        run.results[step.id].append(result)
        if on_result:
            on_result(result)

    with suppress(_Stop):
        if checker is not None:
            checker.run(steps, timeout=timeout, on_result=collect, on_progress=on_progress)
        else:
            run_checks(steps, ws.exercises, timeout=timeout, on_result=collect, on_progress=on_progress)
    return run


def record(state: State, run: Run) -> None:
    for sid in run.results:
        step = get_step(sid)
        state.mark(step, run.passed(step), run.hashes.get(sid))


def rebuild_state(ws: Workspace, old: State, *, ui: Console, timeout: float | None = None,
                  force: bool = False, printer: Callable[[Result], None] | None = None) -> tuple[State, Run]:
    """Re-checks the steps in order; returns the state their results give, and the results.

    A step is checked when it is unlocked by the new results (so from a fresh state the run stops at
    the first failing step), or was unlocked in `old` (so `check --all` re-checks every step that was
    unlocked), or always with `force`. Hints used are kept from `old`.
    """
    warmup.ensure_warm(ui, _reachable(ws, old, force))
    new = State(steps={sid: StepRecord(hints_used=rec.hints_used) for sid, rec in old.steps.items()})

    def allowed(step: Step) -> bool:
        return force or old.unlocked(step) or new.unlocked(step)

    def keep_going(step: Step, part: Run) -> bool:
        for sid in part.results:  # the steps settled so far
            new.record(get_step(sid)).passed = part.passed(get_step(sid))
        return allowed(step)

    run = Run()
    activity = warmup.CheckActivity("Re-checking your steps in order…")
    spinner = ui.status(activity) if printer is None else nullcontext()
    with spinner:
        todo = list(STEPS)
        while todo:
            part = check_steps(ws, todo, timeout=timeout, on_result=printer, keep_going=keep_going,
                               on_progress=activity)
            run.results.update(part.results)
            run.hashes.update(part.hashes)
            stopped = next((i for i, s in enumerate(todo) if s.id not in part.results), None)
            if stopped is None:
                break
            # the step at `stopped` is locked; only a step unlocked in `old` can follow it
            todo = todo[stopped + 1:]
            while todo and not allowed(todo[0]):
                todo.pop(0)
    if printer is None:
        for sid in run.results:
            step = get_step(sid)
            ok = run.passed(step)
            mark = "[green]✓[/]" if ok else "[red]✗[/]"
            ui.print(f"  {mark} step {step.id} · {escape(step.title)}: {'passes' if ok else 'does not pass'}")
    state = State(steps={sid: StepRecord(hints_used=rec.hints_used) for sid, rec in old.steps.items()})
    for step in STEPS:  # steps the run never reached keep their old record
        if step.id not in run.results:
            state.steps[step.id] = old.record(step)
    record(state, run)
    state.current = next((s.number for s in STEPS if not state.record(s).passed), len(STEPS))
    return state, run


def _reachable(ws: Workspace, old: State, force: bool) -> list[Step]:
    """The steps a rebuild may check: unlocked ones, and those whose file is no longer the skeleton."""
    if force:
        return list(STEPS)

    def edited(step: Step) -> bool:
        try:
            return ws.exercise(step).read_text("utf-8") != step.skeleton()
        except (OSError, UnicodeDecodeError):
            return False

    return [s for s in STEPS if old.unlocked(s) or edited(s)]


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
                        todo.append(STEPS[number - 1])
    return [STEPS[n - 1] for n in sorted(seen)]


def dependency_notes(ws: Workspace, state: State, step: Step) -> list[str]:
    """For a failing step: the earlier files it builds on that changed since they passed or don't pass."""
    notes = []
    for dep in imported_steps(ws, step):
        status = state.status(dep, ws)
        if status == "changed":
            why = "which changed since it passed"
        elif status != "passed":
            why = "which does not pass its checks"
        else:
            continue
        notes.append(f"{step.module} builds on {dep.filename}, {why} — run `{PROG} check {dep.id}`")
    return notes
