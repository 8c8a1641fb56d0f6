"""One learner's workspace and what can be done in it: `Tutor`, which the other capabilities take."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import compiled, graphs, kernels, maxenv, statefile, stepcheck, waiting
from .errors import TutorError
from .events import OnEvent, ignore
from .names import PROG
from .registry import STEPS, Step, UnknownStep, get_step, needed_for, span
from .state import State
from .stepcheck import CheckReport, RebuildReport
from .workspace import Workspace, imported_steps


def step(arg: str | int | Step) -> Step:
    """The step named by 7, "07" or "step_07"; a TutorError for anything else."""
    if isinstance(arg, Step):
        return arg
    try:
        return get_step(arg)
    except UnknownStep as exc:
        raise TutorError(str(exc)) from None


@dataclass(frozen=True)
class StepStatus:
    step: Step
    status: str  # locked · todo · passed · changed (since it passed) · differs (its compiled graph disagrees)
    hints_used: int
    current: bool
    note: str = ""  # why, for "differs"


@dataclass(frozen=True)
class Hint:
    step: Step
    index: int  # from 0
    total: int
    label: str  # the tier's name: "nudge", "concept", ...
    text: str  # Markdown
    repeated: bool  # every tier was used already: this is the last one again
    next_label: str | None  # the tier `hint` gives next time, None after the last


class Tutor:
    """A learner's workspace and what can be done in it."""

    def __init__(self, workspace: Workspace):
        self.workspace = workspace
        self._seen: statefile.Stamp = None  # the progress file as this tutor last read or wrote it

    @property
    def root(self) -> Path:
        return self.workspace.root

    @property
    def exercises(self) -> Path:
        return self.workspace.exercises

    def __repr__(self) -> str:
        return f"Tutor({str(self.root)!r})"

    def require_writable(self) -> None:
        for folder in (self.workspace.meta, self.workspace.exercises):
            if not os.access(folder, os.W_OK):
                raise TutorError(f"cannot write to {folder}: the workspace is read-only")

    # --- progress

    def load_and_repair_state(self, *, timeout: float | None = None, on_event: OnEvent = ignore) -> State:
        """The learner's progress, read once. A workspace from an older tutor is migrated first (a Notice says
        what happened); a corrupt state.json is kept as a backup and the progress rebuilt by re-checking the
        steps in order (a Notice first, StepSettled events, a Notice after)."""
        state, self._seen = stepcheck.load_state(self.workspace, timeout=timeout, on_event=on_event)
        return state

    def save(self, state: State) -> None:
        self._seen = statefile.save(self.workspace, state)

    def statuses(self, state: State | None = None) -> list[StepStatus]:
        state = state or self.load_and_repair_state()
        wrong = self.graph_problem()
        found = []
        for s in STEPS:
            status, note = state.status(s, self.workspace), ""
            if wrong and status == "passed" and s.compiled:
                status, note = "differs", wrong
            found.append(StepStatus(s, status, state.record(s).hints_used, s == state.current, note))
        return found

    def graph_problem(self) -> str:
        """What the background compile found wrong with the learner's compiled model ("" when nothing)."""
        return compiled.problem(self.exercises)

    def choose(self, arg: str | int | Step | None, *, force: bool = False, state: State | None = None,
               timeout: float | None = None, on_event: OnEvent = ignore) -> tuple[Step, State]:
        """The step a command works on (default: the current one) and the progress, read once; a locked step
        is refused unless forced. The one place the lock is decided."""
        picked = step(arg) if arg is not None else None
        state = state or self.load_and_repair_state(timeout=timeout, on_event=on_event)
        chosen = picked or state.current
        stepcheck.require_unlocked(state, chosen, force)
        return chosen, state

    # --- checking

    def check(self, arg: str | int | Step | None = None, *, force: bool = False, timeout: float | None = None,
              on_event: OnEvent = ignore, spares=None, state: State | None = None,
              cancel: Callable[[], bool] | None = None) -> CheckReport:
        """Checks one step (default: the current one), records the outcome and returns it. Each Result is
        sent to `on_event` as it is decided; waiting for MAX's kernels and compiles come as events too.
        `spares`: a checking.runner.SpareChecker to run in (`watch`). `cancel()`, asked a few times a second
        while the check runs, stops it when True (`watch`: the file was saved again): CheckCancelled is raised,
        and nothing is recorded."""
        chosen, state = self.choose(arg, force=force, state=state, timeout=timeout, on_event=on_event)
        return self.run_check(chosen, state, timeout=timeout, on_event=on_event, spares=spares, cancel=cancel)

    def run_check(self, chosen: Step, state: State | None = None, *, timeout: float | None = None,
                  on_event: OnEvent = ignore, spares=None, cancel: Callable[[], bool] | None = None) -> CheckReport:
        """`check` for a step `choose` gave (its lock decided there); `state`: the progress `choose` read
        (None: read it now, as `watch` does long after)."""
        if state is None:
            state = self.load_and_repair_state(timeout=timeout, on_event=on_event)
        report = stepcheck.check(self.workspace, chosen, state, self._seen, timeout=timeout, on_event=on_event,
                                 spares=spares, cancel=cancel)
        self._seen = statefile.stamp(self.workspace)
        return report

    def check_all(self, *, force: bool = False, timeout: float | None = None, on_event: OnEvent = ignore,
                  settle: bool = False, state: State | None = None) -> RebuildReport:
        """Checks every unlocked step in order (every step, forced) and rebuilds the progress from the results;
        `settle`: a StepSettled event for each step checked, at the end."""
        state = state or self.load_and_repair_state(timeout=timeout, on_event=on_event)
        report = stepcheck.check_all(self.workspace, state, force=force, timeout=timeout, on_event=on_event,
                                     settle=settle)
        self._seen = statefile.stamp(self.workspace)
        return report

    def stamp(self, chosen: Step) -> tuple:
        """The contents (hashes) of the step's file and the earlier files it imports: a change to any of them
        is a reason to check it again (`watch`)."""
        return tuple(self.workspace.file_hash(s) for s in (chosen, *imported_steps(self.workspace, chosen)))

    def spares(self):
        """A checking.runner.SpareChecker for this workspace: keeps a check process ready (close it after)."""
        from .checking.runner import SpareChecker

        return SpareChecker(self.exercises)

    # --- hints, solutions, resets

    def hint(self, arg: str | int | Step | None = None, *, force: bool = False) -> Hint:
        """The step's next hint tier, recorded in the progress (the last tier again once all are used)."""
        chosen, state = self.choose(arg, force=force)
        return self.next_hint(chosen, state)

    def next_hint(self, chosen: Step, state: State | None = None) -> Hint:
        """`state`: the progress just read (None: read it now, as `watch` does long after it loaded it)."""
        tiers, labels = chosen.hints, chosen.hint_labels
        if not tiers:
            raise TutorError(f"step {chosen.id} has no hints", code=1)
        state = state or self.load_and_repair_state()
        rec = state.record(chosen)
        repeated = rec.hints_used >= len(tiers)
        index = len(tiers) - 1 if repeated else rec.hints_used
        if not repeated:
            rec.hints_used += 1
            self.save(state)
        return Hint(chosen, index, len(tiers), labels[index], tiers[index], repeated,
                    labels[index + 1] if index + 1 < len(tiers) else None)

    def solution(self, arg: str | int | Step) -> str:
        """The reference answer as a learner's file (one that passes the step)."""
        return step(arg).solution()

    def passed(self, arg: str | int | Step) -> bool:
        return self.load_and_repair_state().record(step(arg)).passed

    def reset(self, arg: str | int | Step, state: State | None = None) -> Path | None:
        """Puts the step's skeleton back, first copying the learner's file into the backups; marks the step
        not passed (on `state`, the progress read before, unless another command wrote it since). Returns the backup (None when there was
        no file)."""
        chosen = step(arg)
        state = statefile.fresh(self.workspace, state, self._seen) if state else self.load_and_repair_state()
        try:
            backup = self.workspace.restore_skeleton(chosen)
        except OSError as exc:
            raise TutorError(f"cannot reset {self.workspace.exercise(chosen)}: {exc.strerror or exc}") from None
        state.mark(chosen, False, None)
        self.save(state)
        return backup

    def exercise(self, arg: str | int | Step) -> Path:
        return self.workspace.exercise(step(arg))

    def edit(self, arg: str | int | Step | None = None, *, force: bool = False) -> Path | None:
        """Opens the step's exercise (default: the current step's) in $VISUAL or $EDITOR and waits for it;
        returns the file's path when neither is set (nothing opened), else None."""
        import shlex
        import subprocess

        chosen, _ = self.choose(arg, force=force)
        path = self.workspace.exercise(chosen)
        if not path.exists():
            raise TutorError(f"{path} is missing: `{PROG} reset {chosen.id}` puts the skeleton back")
        editor = (os.environ.get("VISUAL") or os.environ.get("EDITOR") or "").strip()
        if not editor:
            return path
        try:
            argv = shlex.split(editor)
        except ValueError:
            raise TutorError(f"cannot understand the editor command {editor!r} (from $VISUAL/$EDITOR)") from None
        try:
            code = subprocess.call([*argv, str(path)], env=maxenv.child_environment())
        except OSError as exc:
            raise TutorError(f"cannot start the editor {argv[0]!r} (from $VISUAL/$EDITOR): {exc.strerror or exc}; "
                             f"the file is {path}") from None
        if code != 0:
            raise TutorError(f"the editor {argv[0]!r} exited with code {code}; the file is {path}", code=1)
        return None

    # --- the finished model

    def require_generation(self, command: str, state: State | None = None) -> None:
        """The rule for running the learner's own model (generate, serve): the steps the generation role needs
        pass (later steps don't lock it), and its compiled graph, where compiled, agrees with the eager model."""
        state = state or self.load_and_repair_state()
        needed = needed_for("generation")
        left = []
        for s in needed:
            status = state.status(s, self.workspace)
            if status == "changed":
                left.append(f"{s.id} (changed since it passed)")
            elif status != "passed":
                left.append(s.id)
        if left:
            raise TutorError(f"{command} runs your own model, so it unlocks when steps {span(needed)} all pass; "
                             f"still to pass: {', '.join(left)} (`{PROG} check`), or use --reference to run the "
                             "tutor's model now")
        wrong = self.graph_problem()
        judged = [s for s in compiled.steps() if s in needed]
        if wrong and judged:
            raise TutorError(f"{command} can't run your model: {wrong} (`{PROG} check {judged[-1].id}` "
                             "checks it again after a change)", code=1)

    def wait_for_graph(self, config_sizes: dict, on_event: OnEvent = ignore, device: str = "cpu") -> None:
        """Before compiling the learner's cached model at these sizes for this device: when they are the
        background compile's, makes sure it is queued for that device and waits for it (then MAX's cache serves
        the compile here), and refuses a graph whose compiled numbers disagree with the eager model."""
        if not kernels.background_enabled() or config_sizes != graphs.sizes():
            return
        graphs.queue(self.exercises, device)
        who = "your cached GPT-2" + (f" for the {device.upper()}" if device != "cpu" else "")
        found = waiting.wait_for_graph(graphs.key(self.exercises, device), who=who, on_event=on_event)
        if found is not None and found.state == "disagrees":
            raise TutorError(f"your compiled model can't be trusted: {found.message}", code=1)

    def book(self, out: Path | None = None) -> Path:
        """Builds the lessons into an HTML book (default: .gpt2tutor/book/); returns its index.html."""
        from . import book as the_book  # markdown-it and Pygments: only when a book is built

        state = self.load_and_repair_state()
        try:
            return the_book.build(self.workspace, state, out if out is not None else the_book.default_dir(self.workspace))
        except the_book.BookError as exc:
            raise TutorError(str(exc)) from None
