"""The tutor as a Python library: what every command does, for a script, a notebook or a test.

    from gpt2tutor import api

    tutor = api.start("my-workspace").tutor       # or api.open() for the workspace you are in
    report = tutor.check("01")                    # a CheckReport: .passed, .results (Result each)
    print(tutor.hint("01").text)                  # the next hint tier, recorded
    for token in api.generate("Once upon a time", reference=True):
        print(token.text, end="")

Nothing here draws anything or asks anything: results come back as data, and what happens on the way
comes as events (gpt2tutor.events, and each check's Result as it is decided) to an `on_event` callback.
Problems the learner can fix are a `TutorError` whose message is one line. It imports neither rich nor
typer; `gpt2tutor.cli` only parses arguments for it and draws what it returns.
"""

from __future__ import annotations

import json
import os
import platform
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from . import MAX_PIN, __version__, background, kernels, maxenv
from . import state as state_store
from .checking.results import Result
from .errors import CheckCancelled, TutorError
from .events import Compiled, Compiling, Launched, Notice, OnEvent, Phase, StepSettled, Waiting, WaitOver, ignore
from .registry import (
    DEBUGGING_GUIDE,
    LESSONS,
    STEPS,
    Step,
    UnknownStep,
    by_role,
    debugging_guide,
    get_step,
    lesson,
    span,
)
from .state import State
from .workspace import DEFAULT_DIR, ENV_VAR, Workspace, WorkspaceError, edited, is_tutor_source, locate

__all__ = [
    "TutorError", "CheckCancelled", "Tutor", "find", "open", "start", "step", "generate", "attention", "doctor",
    "lesson", "LESSONS", "STEPS",
    "Step", "State", "Workspace", "DEBUGGING_GUIDE", "debugging_guide", "Result", "Compiling", "Compiled",
    "Launched", "Notice", "Phase", "StepSettled", "Waiting", "WaitOver", "Migrated",
]

PROG = "gpt2tutor"


def step(arg: str | int | Step) -> Step:
    """The step named by 7, "07" or "step_07"; a TutorError for anything else."""
    try:
        return get_step(arg)
    except UnknownStep as exc:
        raise TutorError(str(exc)) from None


# --- results ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class StepStatus:
    step: Step
    status: str  # locked · todo · passed · changed (since it passed) · differs (its compiled graph disagrees)
    hints_used: int
    current: bool
    note: str = ""  # why, for "differs"


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


@dataclass(frozen=True)
class Hint:
    step: Step
    index: int  # from 0
    total: int
    label: str  # the tier's name: "nudge", "concept", ...
    text: str  # Markdown
    repeated: bool  # every tier was used already: this is the last one again
    next_label: str | None  # the tier `hint` gives next time, None after the last


@dataclass
class StartReport:
    tutor: Tutor
    in_source: bool  # the folder was chosen inside a clone of the tutor, which stays untouched
    resumed: bool  # the learner had progress or edited files here already
    added: list[Step]  # skeletons copied in
    had_files: bool  # some exercise files were there before
    state: State


# --- one workspace -----------------------------------------------------------------------------------

class Tutor:
    """A learner's workspace and what can be done in it."""

    def __init__(self, workspace: Workspace):
        self.workspace = workspace

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

    def progress(self, *, timeout: float | None = None, on_event: OnEvent = ignore) -> State:
        """The learner's progress. A workspace from an older tutor is migrated first (one Notice says what
        happened). A corrupt state.json is never silently reset: it is kept as a backup, and the progress is
        rebuilt by re-checking the steps in order (a Notice first, StepSettled events, a Notice after)."""
        self._migrate(timeout, on_event)
        try:
            return state_store.load(self.workspace)
        except state_store.CorruptState as exc:
            on_event(Notice(f"Your progress file could not be read: {exc.reason}.\nThe damaged file was kept at "
                            f"{exc.backup}.\nRebuilding your progress by re-checking your exercises in order "
                            "(hints used are reset).", "warning"))
            state = self._rebuild(State(), timeout=timeout, on_event=on_event, settle=True)[0]
            self.save(state)
            on_event(Notice(f"Progress rebuilt: {state.passed_count()} of {len(STEPS)} steps pass."))
            return state
        except OSError as exc:
            raise TutorError(f"cannot read {self.workspace.state_file}: {exc.strerror or exc}") from None

    def save(self, state: State) -> None:
        try:
            state_store.save(self.workspace, state)
        except OSError as exc:
            raise TutorError(f"cannot save your progress to {self.workspace.state_file}: "
                             f"{exc.strerror or exc}") from None

    def _migrate(self, timeout: float | None, on_event: OnEvent) -> None:
        from .migration import migrate, needs_migration  # runs checks: numpy, only when a workspace is old

        if not needs_migration(self.workspace):
            return
        on_event(Notice("Updating your workspace to this gpt2tutor's course…"))
        try:
            done = migrate(self.workspace, timeout=timeout)
        except OSError as exc:
            raise TutorError(f"cannot update the workspace {self.root} to this gpt2tutor: "
                             f"{exc.strerror or exc}") from None
        if done is not None:
            on_event(Migrated(done.notice()))

    def statuses(self, state: State | None = None) -> list[StepStatus]:
        state = state or self.progress()
        found = []
        wrong = self.graph_problem()
        for s in STEPS:
            status = state.status(s, self.workspace)
            note = ""
            if wrong and status == "passed" and s == by_role("cached_model"):
                status, note = "differs", wrong
            found.append(StepStatus(s, status, state.record(s).hints_used, s == state.current, note))
        return found

    def graph_problem(self) -> str:
        """What the background compile found wrong with the learner's compiled cached model, for their files as
        they are now ("" when nothing, or not compiled yet)."""
        from . import graphs

        found = graphs.verdict(graphs.key(self.exercises))
        return found.message if found is not None and found.state == "disagrees" else ""

    def choose(self, arg: str | int | Step | None, *, force: bool = False, state: State | None = None,
               timeout: float | None = None, on_event: OnEvent = ignore) -> tuple[Step, State]:
        """The step a command works on (default: the current one) and the progress, refusing a locked step
        unless forced."""
        picked = step(arg) if arg is not None else None
        state = state or self.progress(timeout=timeout, on_event=on_event)
        chosen = picked or state.current
        require_unlocked(state, chosen, force)
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
        background.wait_for_kernels([chosen], who=f"step {chosen.id}", on_event=on_event)
        return self._check_and_record(chosen, timeout=timeout, on_event=on_event, spares=spares, cancel=cancel)

    def _check_and_record(self, chosen: Step, *, timeout, on_event, spares=None, cancel=None) -> CheckReport:
        from .checking import spares as spare_processes
        from .progress import apply_outcomes, check_steps

        taken = spare_processes.claim(self.exercises) if spares is None else None
        try:
            outcome, = check_steps(self.workspace, [chosen], timeout=timeout, on_result=on_event,
                                   on_progress=on_event, spares=spares, prestarted=taken, cancel=cancel)
        finally:
            if spares is None and spare_processes.enabled():
                spare_processes.want(self.exercises)  # the next check finds one ready
                background.launch_if_needed()
        self._judge_graph(chosen, outcome, on_event)
        state = self.progress(timeout=timeout)  # fresh: another command may have changed it meanwhile
        apply_outcomes(state, [outcome])
        self.save(state)
        report = CheckReport(chosen, outcome.results, state, cause=outcome.cause)
        if outcome.cause:
            report.notes = [not_judged_note(state, chosen, outcome.cause)]
        elif not report.passed:
            report.notes = dependency_notes(self.workspace, state, chosen)
        else:
            self._queue_graph(state, on_event)
        return report

    def _judge_graph(self, chosen: Step, outcome, on_event: OnEvent) -> None:
        """The cached-model step passes only if its compiled graph, where the background compiled it already,
        agrees with the eager model: the verdict becomes a result of the check."""
        from . import graphs

        if chosen != by_role("cached_model") or not outcome.passed:
            return
        found = graphs.verdict(graphs.key(self.exercises))
        if found is None or found.state == "failed":
            return
        name = "your cached model, compiled in the background at the real GPT-2's sizes, computes what it does eagerly"
        detail = f"they agree (largest difference {found.worst:.1e})" if found.agrees and found.worst is not None else ""
        result = Result(chosen.id, "behaviour", name, found.agrees, detail if found.agrees else found.message)
        outcome.results.append(result)
        on_event(result)

    def _queue_graph(self, state: State, on_event: OnEvent) -> None:
        """Once every step of the cached model passes: its compile at GPT-2 124M's sizes, in the background."""
        from . import graphs

        if not all(state.status(s, self.workspace) == "passed" for s in graphs.model_steps()):
            return
        devices = ["gpu", "cpu"] if graphs.gpu_present() else ["cpu"]  # a GPU's first: a learner who has one uses it
        if [graphs.queue(self.exercises, device) for device in devices][-1]:
            launched = background.launch_if_needed()
            on_event(Notice("MAX compiles your cached GPT-2 in the background now, at the real GPT-2's sizes, and "
                            "checks the compiled numbers against your eager model: `gpt2tutor generate` finds it "
                            f"compiled (about {round(graphs.ESTIMATE / 60)} min on 2 cores, once per version of your "
                            "code)." + (f" (process {launched.pid})" if launched is not None else "")))

    def check_all(self, *, force: bool = False, timeout: float | None = None, on_event: OnEvent = ignore,
                  settle: bool = False) -> RebuildReport:
        """Checks every unlocked step in order (every step, forced) and rebuilds the progress from the results;
        `settle`: a StepSettled event for each step checked, at the end."""
        from .progress import apply_outcomes

        state = self.progress(timeout=timeout, on_event=on_event)
        new_state, outcomes = self._rebuild(state, timeout=timeout, force=force, on_event=on_event, settle=settle)
        for outcome in outcomes:
            if outcome.step == by_role("cached_model"):
                self._judge_graph(outcome.step, outcome, on_event)
                apply_outcomes(new_state, [outcome])
        self.save(new_state)
        self._queue_graph(new_state, on_event)
        return RebuildReport(outcomes, new_state)

    def _rebuild(self, old: State, *, timeout=None, force=False, on_event: OnEvent = ignore, settle=False):
        from . import progress

        background.wait_for_kernels(progress.reachable(self.workspace, old, force) or None, who="every step",
                                    on_event=on_event)
        state, outcomes = progress.rebuild(self.workspace, old, force=force, timeout=timeout, on_result=on_event,
                                           on_progress=on_event)
        if settle:
            for outcome in outcomes:
                on_event(StepSettled(outcome.step.id, outcome.step.title, outcome.passed))
        return state, outcomes

    def stamp(self, chosen: Step) -> tuple:
        """The contents (hashes) of the step's file and the earlier files it imports: a change to any of them
        is a reason to check it again (`watch`)."""
        from .workspace import imported_steps

        return tuple(self.workspace.file_hash(s) for s in (chosen, *imported_steps(self.workspace, chosen)))

    def spares(self):
        """A checking.runner.SpareChecker for this workspace: keeps a check process ready (close it after)."""
        from .checking.runner import SpareChecker

        return SpareChecker(self.exercises)

    # --- hints, solutions, resets

    def hint(self, arg: str | int | Step | None = None, *, force: bool = False) -> Hint:
        """The step's next hint tier, recorded in the progress (the last tier again once all are used)."""
        chosen, _ = self.choose(arg, force=force)
        return self.next_hint(chosen)

    def next_hint(self, chosen: Step) -> Hint:
        tiers, labels = chosen.hints, chosen.hint_labels
        if not tiers:
            raise TutorError(f"step {chosen.id} has no hints", code=1)
        state = self.progress()  # fresh: `watch` asks long after it loaded the state
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
        return self.progress().record(step(arg)).passed

    def reset(self, arg: str | int | Step) -> Path | None:
        """Puts the step's skeleton back, first copying the learner's file into the backups; marks the step
        not passed. Returns the backup (None when there was no file)."""
        chosen = step(arg)
        state = self.progress()
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
            raise TutorError(f"{path} is missing: `gpt2tutor reset {chosen.id}` puts the skeleton back")
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

    def require_all_passed(self, command: str, state: State | None = None) -> None:
        """The rule for running the learner's own model (generate, serve): every step passes."""
        state = state or self.progress()
        left = []
        for s in STEPS:
            status = state.status(s, self.workspace)
            if status == "changed":
                left.append(f"{s.id} (changed since it passed)")
            elif status != "passed":
                left.append(s.id)
        if left:
            raise TutorError(f"{command} runs your own model, so it unlocks when steps {span(STEPS)} all pass; "
                             f"still to pass: {', '.join(left)} (`{PROG} check`), or use --reference to run the "
                             "tutor's model now")
        wrong = self.graph_problem()
        if wrong:
            raise TutorError(f"{command} can't run your model: {wrong} (`{PROG} check {by_role('cached_model').id}` "
                             "checks it again after a change)", code=1)

    def wait_for_graph(self, config_sizes: dict, on_event: OnEvent = ignore, device: str = "cpu") -> None:
        """Before compiling the learner's cached model at these sizes for this device: when they are the
        background compile's, makes sure it is queued for that device and waits for it (then MAX's cache serves
        the compile here), and refuses a graph whose compiled numbers disagree with the eager model."""
        from . import graphs

        if not kernels.background_enabled() or config_sizes != graphs.sizes():
            return
        graphs.queue(self.exercises, device)
        who = "your cached GPT-2" + (f" for the {device.upper()}" if device != "cpu" else "")
        found = background.wait_for_graph(graphs.key(self.exercises, device), who=who, on_event=on_event)
        if found is not None and found.state == "disagrees":
            raise TutorError(f"your compiled model can't be trusted: {found.message}", code=1)

    def generate(self, prompt: str, **settings) -> Generation:
        """Text from the learner's own pipeline (every step must pass); see `generate` below."""
        self.require_all_passed("generate")
        return generate(prompt, tutor=self, **settings)

    def book(self, out: Path | None = None) -> Path:
        """Builds the lessons into an HTML book (default: .gpt2tutor/book/); returns its index.html."""
        from . import book as the_book  # markdown-it and Pygments: only when a book is built

        state = self.progress()
        try:
            return the_book.build(self.workspace, state, out if out is not None else the_book.default_dir(self.workspace))
        except the_book.BookError as exc:
            raise TutorError(str(exc)) from None


@dataclass(frozen=True)
class Migrated:
    """The workspace was made by an older gpt2tutor and has been brought up to date."""

    notice: str


def dependency_notes(ws: Workspace, state: State, chosen: Step) -> list[str]:
    """For a failing step: a line for each earlier file it builds on that changed or doesn't pass."""
    from .progress import stale_dependencies

    return [f"{chosen.module} builds on {dep.filename}, {why} — run `{PROG} check {dep.id}`"
            for dep, why in stale_dependencies(ws, state, chosen)]


def default_timeout() -> float:
    """The seconds one step's checks may take: $GPT2TUTOR_TIMEOUT, else 120 (a TutorError for a bad value)."""
    from .checking.runner import default_timeout as limit

    return limit()


def not_judged_note(state: State, chosen: Step, cause: str) -> str:
    """For a check that was no verdict on the step's own file: what stopped it, and that nothing was recorded."""
    from .checking.results import TIME_LIMIT
    from .registry import following

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


def require_unlocked(state: State, chosen: Step, force: bool) -> None:
    blockers = state.blockers(chosen)
    if force or not blockers:
        return
    if len(blockers) == 1:
        raise TutorError(f"step {chosen.id} is locked: pass step {blockers[0].id} first "
                         f"(`{PROG} check {blockers[0].id}`), or use --force")
    raise TutorError(f"step {chosen.id} is locked: it needs every earlier step passed, still to pass: "
                     f"{', '.join(s.id for s in blockers)} (or use --force)")


def find(path: Path | str | None = None) -> Tutor | None:
    """The workspace `open` would give, or None when there is none to be found (no --workspace, no
    $GPT2TUTOR_WORKSPACE, no folder upward holding .gpt2tutor/); a TutorError for one given that is unusable."""
    if path is None and not os.environ.get(ENV_VAR):
        try:
            locate(None)
        except WorkspaceError:
            return None
    return open(path)


def open(path: Path | str | None = None, *, writable: bool = False) -> Tutor:
    """The workspace at `path`, else $GPT2TUTOR_WORKSPACE, else the nearest folder upward holding .gpt2tutor/."""
    try:
        ws = locate(Path(path) if path is not None else None)
        ws.check_usable()
    except WorkspaceError as exc:
        raise TutorError(str(exc)) from None
    tutor = Tutor(ws)
    if writable:
        tutor.require_writable()
    return tutor


def _choose_root(directory: Path | None, workspace: Path | None) -> tuple[Path, bool]:
    """Where to work, and whether that was chosen for the learner inside the tutor's own source tree."""
    if directory is not None and workspace is not None and directory.resolve() != workspace.resolve():
        raise TutorError(f"two different workspaces given: {directory} and --workspace {workspace}")
    given = directory or workspace or (Path(os.environ[ENV_VAR]) if os.environ.get(ENV_VAR) else None)
    if given is not None:
        return given, False
    try:
        return locate(None).root, False  # inside (or next to) an existing workspace: resume it
    except WorkspaceError:
        pass
    here = Path.cwd()
    if is_tutor_source(here):  # a clone of the tutor: its skeletons are not the learner's to edit
        return here / DEFAULT_DIR, True
    if any((here / "exercises").glob("step_*.py")):  # a folder that already holds exercises
        return here, False
    return here / DEFAULT_DIR, False


def start(directory: Path | str | None = None, *, workspace: Path | str | None = None,
          on_event: OnEvent = ignore) -> StartReport:
    """Creates a workspace, or resumes one: copies the skeletons in (never over a file that exists), starts
    the background compile of MAX's kernels, and finds where the learner is. Safe to run again."""
    from .workspace import create

    root, in_source = _choose_root(Path(directory) if directory is not None else None,
                                   Path(workspace) if workspace is not None else None)
    if root.exists() and not root.is_dir():
        raise TutorError(f"{root} is a file, not a folder")
    had_state = (root / ".gpt2tutor" / "state.json").exists()
    existing = [s for s in STEPS if (root / "exercises" / s.filename).exists()]
    try:
        ws = create(root)
        tutor = Tutor(ws)
        if ws.exercises.exists():
            tutor.require_writable()
        tutor._migrate(None, on_event)  # an older tutor's workspace first: no skeleton lands on a renamed file
        added = ws.copy_skeletons()
    except WorkspaceError as exc:
        raise TutorError(str(exc)) from None
    except OSError as exc:
        raise TutorError(f"cannot set up the exercises in {root / 'exercises'}: {exc.strerror or exc}") from None
    worked_on = [s for s in existing if edited(ws, s)]
    state = tutor.progress(on_event=on_event)
    resumed = (had_state and any(state.record(s).passed or state.record(s).hints_used for s in STEPS)) \
        or bool(worked_on)
    report = StartReport(tutor, in_source, resumed, added, bool(existing), state)
    start_background(on_event)
    if not had_state and worked_on:
        # exercises from before but no progress file: find out where the learner is
        on_event(Notice("Found exercises you already worked on: checking them to pick up where you left off."))
        state = tutor._rebuild(State(), on_event=on_event, settle=True)[0]
    tutor.save(state)
    report.state = state
    return report


@dataclass(frozen=True)
class BackgroundStarted:
    """`start` launched the background compile: the kernels of step `first` in `first_s`, all in `all_s`."""

    pid: int
    first: str
    first_s: float
    all_s: float


@dataclass(frozen=True)
class BackgroundBusy:
    """The background compile was already running."""


@dataclass(frozen=True)
class BackgroundFailed:
    reason: str


def start_background(on_event: OnEvent = ignore) -> None:
    """For `start`: launches the background compile when MAX's cache lacks kernels, and returns at once."""
    if not kernels.background_enabled() or not kernels.missing(kernels.batches()):
        return
    if background.running():
        on_event(BackgroundBusy())
        return
    first, first_s, all_s = background.first_estimates()
    try:
        proc = background.launch()
    except OSError as exc:
        on_event(BackgroundFailed(str(exc)))
        return
    if proc is not None:
        on_event(BackgroundStarted(proc.pid, first, first_s, all_s))


def background_log() -> Path:
    """Where the background process writes its log."""
    return background.log_path()


# --- generating text -----------------------------------------------------------------------------------

DEFAULT_MAX_NEW_TOKENS = 50


@dataclass(frozen=True)
class Token:
    id: int
    text: str  # what it adds to the text (empty while it holds half a character)


@dataclass
class GenerationResult:
    prompt: str
    prompt_ids: list[int]
    generated_ids: list[int]
    text: str
    model: str
    implementation: str  # "learner" or "reference"
    device: str
    settings: dict
    load_s: float
    compile_s: float
    timings: object  # generation.pipeline.Timings

    def to_json(self) -> dict:
        t = self.timings
        return {
            "prompt": self.prompt, "prompt_ids": self.prompt_ids, "generated_ids": self.generated_ids,
            "text": self.text, "model": self.model, "implementation": self.implementation, "device": self.device,
            "settings": self.settings,
            "timings": {"load_s": round(self.load_s, 4), "compile_s": round(self.compile_s, 4),
                        "time_to_first_token_s": _round(t.time_to_first_token_s),
                        "tokens_per_s": _round(t.tokens_per_s), "total_s": round(t.total_s, 4)},
        }


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 4)


class Generation:
    """A generation ready to run: iterate over it for Tokens as they come (it runs in a thread), or call
    `run(on_token)` to run it here; `result` holds the GenerationResult afterwards."""

    def __init__(self, runner: Callable[[Callable[[int], None]], GenerationResult], tokenizer,
                 prompt_ids: list[int]):
        self._runner = runner
        self.tokenizer = tokenizer
        self.prompt_ids = prompt_ids
        self.result: GenerationResult | None = None

    def run(self, on_token: Callable[[Token], None] = lambda token: None) -> GenerationResult:
        from .generation.tokenizer import StreamDecoder

        decoder = StreamDecoder(self.tokenizer)
        self.result = self._runner(lambda token_id: on_token(Token(token_id, decoder.push(token_id))))
        tail = decoder.flush()
        if tail:
            on_token(Token(-1, tail))  # the rest of a character held back at the end
        return self.result

    def __iter__(self) -> Iterator[Token]:
        tokens: queue.Queue = queue.Queue()
        done = object()

        def work() -> None:
            try:
                self.run(tokens.put)
            except BaseException as exc:
                tokens.put(exc)
            finally:
                tokens.put(done)

        threading.Thread(target=work, daemon=True).start()
        while (item := tokens.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item


def graphs_sizes() -> list[str]:
    from . import graphs

    return list(graphs.SIZES)


def validate_settings(prompt: str, max_new_tokens: int, temperature: float, top_k: int | None,
                      top_p: float | None, greedy: bool) -> None:
    if not prompt.strip():
        raise TutorError("the prompt is empty: give some text to continue, e.g. gpt2tutor generate \"Once upon a time\"")
    if max_new_tokens <= 0:
        raise TutorError(f"--max-new-tokens must be a positive number of tokens, not {max_new_tokens}")
    if not greedy and not temperature > 0:
        raise TutorError(f"--temperature must be > 0 when sampling (got {temperature}); use --greedy for the "
                         "single most likely token")
    if top_k is not None and top_k < 1:
        raise TutorError(f"--top-k must be at least 1, not {top_k}")
    if top_p is not None and not 0 < top_p <= 1:
        raise TutorError(f"--top-p must be in (0, 1], not {top_p}")


def resolve_device(name: str) -> str:
    """--device auto|cpu|gpu as "cpu" or "gpu": auto is the GPU when MAX sees one. A GPU asked for where MAX
    sees none is a TutorError."""
    if name not in ("auto", "cpu", "gpu"):
        raise TutorError(f"--device must be auto, cpu or gpu, not {name!r}")
    if name == "cpu":
        return "cpu"
    from max import driver

    seen = driver.accelerator_count() > 0
    if name == "gpu" and not seen:
        raise TutorError("--device gpu: no GPU (accelerator) is available to MAX on this machine; use --device cpu")
    return "gpu" if seen else "cpu"


def run_checks_on(device: str) -> str:
    """`check --device`: where check processes run the learner's code (the children read DEVICE_ENV). On a GPU
    the CPU's kernel batches and the spare processes that preload them don't apply, so they are off."""
    from .checking.context import DEVICE_ENV

    name = resolve_device(device)
    os.environ[DEVICE_ENV] = name
    if name == "gpu":
        os.environ[kernels.ENV_SWITCH] = "0"
    return name


def _load_max() -> None:
    """MAX's native modules, loaded where a Ctrl-C can't abort them, and the process tuned for eager ops."""
    import importlib

    from .maxenv import interrupts_deferred, tune_process

    tune_process()
    with interrupts_deferred():
        importlib.import_module("max.driver")
        importlib.import_module("gpt2tutor.generation.checkpoint")
        importlib.import_module("gpt2tutor.generation.tokenizer")
        importlib.import_module("gpt2tutor.generation.pipeline")


def generate(prompt: str, *, reference: bool = False, tutor: Tutor | None = None, model: str = "gpt2",
             max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS, temperature: float = 1.0, top_k: int | None = None,
             top_p: float | None = None, seed: int | None = None, greedy: bool = False, device: str = "auto",
             on_event: OnEvent = ignore) -> Generation:
    """A generation from the course's pipeline (generation/pipeline.py): the learner's files (`tutor`, whose
    steps must all pass) or, with `reference`, the reference solutions, the same code either way. `model` is a
    HuggingFace id or a local folder (safetensors only). Nothing is compiled until the Generation runs."""
    validate_settings(prompt, max_new_tokens, temperature, top_k, top_p, greedy)
    if not reference and tutor is None:
        tutor = open()
    if not reference:
        tutor.require_all_passed("generate")
    _load_max()
    from .generation.checkpoint import CheckpointError, resolve
    from .generation.pipeline import DeviceUnavailable, pick_device
    from .generation.tokenizer import Tokenizer

    device = resolve_device(device)
    try:
        target = pick_device(device)
        checkpoint = resolve(model)
        tokenizer = Tokenizer(checkpoint.folder, checkpoint.name)
    except (CheckpointError, DeviceUnavailable) as exc:
        raise TutorError(str(exc)) from None
    config = checkpoint.config
    prompt_ids = tokenizer.encode(prompt)
    if not prompt_ids:
        raise TutorError("the prompt has no tokens: give some text to continue")
    if len(prompt_ids) + max_new_tokens > config.n_positions:
        raise TutorError(f"the prompt is {len(prompt_ids)} tokens and --max-new-tokens is {max_new_tokens}: "
                         f"together more than the model's {config.n_positions} positions; shorten one of them")
    if max(prompt_ids) >= config.vocab_size:
        raise TutorError(f"the tokenizer gave id {max(prompt_ids)}, beyond the model's vocabulary of "
                         f"{config.vocab_size}: the tokenizer files don't belong to this checkpoint")
    from .generation.sampling import SamplingSettings

    settings = SamplingSettings(greedy=greedy, temperature=temperature, top_k=top_k, top_p=top_p, seed=seed)
    settings_json = {"max_new_tokens": max_new_tokens, "greedy": greedy, "temperature": temperature,
                     "top_k": top_k, "top_p": top_p, "seed": seed}

    def run(on_token: Callable[[int], None]) -> GenerationResult:
        from .events import Phase
        from .generation.pipeline import CachedModel, LearnerCodeError, Timings, learner_code, reference_code
        from .generation.pipeline import generate as run_pipeline

        t0 = time.perf_counter()
        on_event(Phase("loading the weights"))
        try:
            weights = checkpoint.hf_state_dict()
        except CheckpointError as exc:
            raise TutorError(str(exc)) from None
        load_s = time.perf_counter() - t0
        on_event(Phase("loading the weights", done=True, seconds=load_s))
        who = "the reference GPT-2" if reference else "your GPT-2 with your load_cached_gpt2"
        if not reference:
            tutor.wait_for_graph({k: getattr(config, k) for k in graphs_sizes()}, on_event, device)
        background.wait_for_generation(on_event=on_event)  # generate_tokens' kernels, compiled in the background:
        kernels.preload_generation()  # loaded here, so that none compiles before the first token
        try:
            with (nullcontext() if reference else learner_code(tutor.exercises)) as code:
                code = code or reference_code()
                t0 = time.perf_counter()
                on_event(Phase(f"compiling {who}"))
                cached = CachedModel(code, config, weights, target)
                compile_s = time.perf_counter() - t0
                on_event(Phase(f"compiling {who}", done=True, seconds=compile_s))
                del weights
                timings = Timings()

                def mark(token: int) -> None:
                    timings.mark()
                    on_token(token)

                new_ids = run_pipeline(cached, prompt_ids, max_new_tokens, settings, target, mark)
        except LearnerCodeError as exc:
            raise TutorError(str(exc), code=1) from None
        return GenerationResult(prompt, prompt_ids, new_ids, tokenizer.decode(new_ids), checkpoint.name,
                                "reference" if reference else "learner", device, settings_json, load_s, compile_s,
                                timings)

    return Generation(run, tokenizer, prompt_ids)


# --- the attention map -----------------------------------------------------------------------------

MAX_HEATMAP_TOKENS = 40


@dataclass
class AttentionMap:
    weights: object  # numpy [seq, seq]: row i is what query i pays to keys 0..i
    tokens: list[str]
    title: str


def attention(prompt: str, *, layer: int = 0, head: int = 0, model: str = "gpt2",
              on_event: OnEvent = ignore) -> AttentionMap:
    """One attention head's weights for a prompt, from the reference model with the checkpoint's weights.
    Waits for the checks' kernels it uses (Waiting events), and reports MAX's compiles."""
    if not prompt.strip():
        raise TutorError("the prompt is empty: give some text, e.g. gpt2tutor attention \"The cat sat on the mat\"")
    import importlib

    from .maxenv import interrupts_deferred, tune_process

    tune_process()
    with interrupts_deferred():
        importlib.import_module("max.driver")
        for name in ("attention_map", "checkpoint", "tokenizer"):
            importlib.import_module(f"gpt2tutor.generation.{name}")
    from .generation.attention_map import attention_weights, model_step
    from .generation.checkpoint import CheckpointError, resolve
    from .generation.tokenizer import Tokenizer

    try:
        checkpoint = resolve(model)
        tokenizer = Tokenizer(checkpoint.folder, checkpoint.name)
    except CheckpointError as exc:
        raise TutorError(str(exc)) from None
    config = checkpoint.config
    if not 0 <= layer < config.n_layer:
        raise TutorError(f"--layer must be from 0 to {config.n_layer - 1} ({checkpoint.name} has {config.n_layer} "
                         f"blocks), not {layer}")
    if not 0 <= head < config.n_head:
        raise TutorError(f"--head must be from 0 to {config.n_head - 1} ({checkpoint.name} has {config.n_head} "
                         f"heads a block), not {head}")
    ids = tokenizer.encode(prompt)
    if not ids:
        raise TutorError("the prompt has no tokens: give some text")
    if len(ids) > min(MAX_HEATMAP_TOKENS, config.n_positions):
        raise TutorError(f"the prompt is {len(ids)} tokens; the heatmap draws at most "
                         f"{min(MAX_HEATMAP_TOKENS, config.n_positions)}: shorten it")
    background.wait_for_kernels([model_step()], who="the attention map", on_event=on_event)
    try:
        weights = checkpoint.state_dict()
    except CheckpointError as exc:
        raise TutorError(str(exc)) from None
    probs = attention_weights(config, weights, ids, layer, on_progress=on_event)[head]  # [seq, seq]
    tokens = [tokenizer.decode([t]) for t in ids]
    return AttentionMap(probs, tokens, f"{checkpoint.name} · block {layer} · head {head}")


# --- doctor ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Finding:
    """One row of `doctor`: `mark` is "ok", "warn" or "bad"."""

    mark: str
    what: str
    value: str


@dataclass
class DoctorReport:
    findings: list[Finding]
    background: dict  # {"running": bool, "task": str | None}

    @property
    def problems(self) -> list[Finding]:
        return [f for f in self.findings if f.mark == "bad"]

    def to_json(self) -> dict:
        return {"findings": [vars(f) for f in self.findings], "background": self.background,
                "problems": len(self.problems)}


GPT2_REPOS = ("models--openai-community--gpt2", "models--gpt2")


def _next_minor(pin: str) -> str:
    major, minor = pin.split(".")[:2]
    return f"{major}.{int(minor) + 1}"


def doctor(workspace: Path | str | None = None) -> DoctorReport:
    """Versions, the device, MAX's kernels and the background process, the workspace's health, the
    HuggingFace cache and serving: what a bug report needs."""
    rows: list[Finding] = []

    def row(mark: str, what: str, value: str) -> None:
        rows.append(Finding(mark, what, value))

    row("ok", "gpt2tutor", __version__)
    row("ok", "Python", f"{platform.python_version()} ({sys.executable})")
    system = f"{platform.system()} {platform.release()} · {platform.machine()}"
    row("ok", "Platform", system + (" (WSL)" if "microsoft" in platform.release().lower() else ""))
    version = maxenv.max_version()
    if version is None:
        row("bad", "MAX", f"not installed: pip install 'max>={MAX_PIN},<{_next_minor(MAX_PIN)}'")
    elif not maxenv.pin_matches(version):
        row("warn", "MAX", f"{version}, but the lessons and checks are written for {MAX_PIN}: "
                           f"pip install 'max>={MAX_PIN},<{_next_minor(MAX_PIN)}'")
    else:
        row("ok", "MAX", f"{version} (pinned {MAX_PIN})")
    if version is not None:
        rows.append(_device())
        fine, text = background.kernels_status()
        row("ok" if fine else "warn", "Kernel cache", f"{text} ({maxenv.cache_dir()})")
        other = background.another_installation()
        if other is not None:
            row("warn", "Background", f"the background process of this MAX cache belongs to another installation, "
                                      f"{other}: it compiles for both, but keeps check processes ready only for its "
                                      "own, so checks here start their own (slower) until it ends")
        if maxenv.full_cache_compiled():
            row("ok", "MAX's full cache", "compiled: every eager op MAX has")
        else:
            row("ok", "MAX's full cache", f"not compiled: ops only your own code uses compile on first use "
                                          f"(10-30 s each); `{PROG} doctor --warm-all` or `max warm-interpreter-cache` "
                                          f"compiles every op once (about {full_cache_minutes():.0f} min here)")
    rows.extend(_workspace_rows(Path(workspace) if workspace is not None else None))
    rows.extend(_graph_rows(Path(workspace) if workspace is not None else None))
    rows.append(_hf_cache())
    rows.append(_serving())
    return DoctorReport(rows, background.task_now())


def _device() -> Finding:
    try:
        from max import driver  # imported here: it takes a while, and --help must not pay for it

        count = driver.accelerator_count()
    except Exception as exc:
        return Finding("bad", "Device", f"MAX could not start: {type(exc).__name__}: {exc}")
    if count > 0:
        try:
            arch = f" ({driver.accelerator_architecture_name()})"
        except Exception:
            arch = ""
        return Finding("ok", "Device", f"CPU, and {count} GPU{'s' if count > 1 else ''}{arch} MAX can use: "
                                       f"`generate`, `serve` and `check --device gpu` run there")
    return Finding("ok", "Device", f"CPU ({os.cpu_count()} cores; no GPU MAX can use)")


def _graph_rows(explicit: Path | None) -> list[Finding]:
    """What the background compiled of the learner's cached model as their files are now, for each device."""
    from . import graphs

    try:
        exercises = locate(explicit).exercises
    except WorkspaceError:
        return []
    said = {"agrees": "compiled, and agrees with your eager model", "disagrees": "compiled, and disagrees with "
            "your eager model", "failed": "failed to compile"}
    found = []
    for device in graphs.DEVICES:
        graph_key = graphs.key(exercises, device)
        verdict = graphs.verdict(graph_key)
        if verdict is not None:
            mark = "ok" if verdict.agrees else "warn"
            found.append(Finding(mark, f"Your model ({device.upper()})", said.get(verdict.state, verdict.state)
                                 + (f" in {verdict.compile_s:.0f} s" if verdict.compile_s else "")))
        elif graphs.job_path(graph_key).exists():
            found.append(Finding("ok", f"Your model ({device.upper()})", "queued for the background compile"))
    return found


def _workspace_rows(explicit: Path | None) -> list[Finding]:
    try:
        ws = locate(explicit)
    except WorkspaceError as exc:
        return [Finding("warn", "Workspace", str(exc))]
    rows = []
    if not ws.exercises.is_dir():
        rows.append(Finding("bad", "Workspace", f"{ws.root}: the exercises folder is missing "
                                                f"(`{PROG} start {ws.root}` puts it back)"))
    else:
        missing = [s.filename for s in STEPS if not ws.exercise(s).exists()]
        writable = os.access(ws.meta, os.W_OK) and os.access(ws.exercises, os.W_OK)
        note = "" if not missing else f"; missing: {', '.join(missing)} (`{PROG} reset NN` restores one)"
        mark = "ok" if writable and not missing else ("bad" if not writable else "warn")
        rows.append(Finding(mark, "Workspace", f"{ws.root}" + ("" if writable else " (read-only!)") + note))
    # Read the state without load(): doctor reports, it does not back up or rebuild.
    try:
        raw = ws.state_file.read_bytes()
    except FileNotFoundError:
        rows.append(Finding("ok", "Progress", "nothing recorded yet"))
        return rows
    except OSError as exc:
        rows.append(Finding("bad", "Progress", f"cannot read {ws.state_file}: {exc.strerror}"))
        return rows
    try:
        state = State.from_json(json.loads(raw.decode("utf-8")))
    except (UnicodeDecodeError, ValueError) as exc:
        reason = "not valid JSON" if isinstance(exc, (UnicodeDecodeError, json.JSONDecodeError)) else str(exc)
        rows.append(Finding("warn", "Progress", f"{ws.state_file} is damaged ({reason}): the next command keeps a "
                                                "copy and rebuilds your progress by re-checking"))
        return rows
    passed = state.passed_count()
    changed = [s.id for s in STEPS if state.status(s, ws) == "changed"]
    note = f"; changed since they passed: {', '.join(changed)}" if changed else ""
    rows.append(Finding("ok", "Progress", f"{passed} of {len(STEPS)} steps passed, current step {state.current.id}{note}"))
    return rows


def _hf_cache() -> Finding:
    try:
        from huggingface_hub import constants  # imported here: keeps --help light
    except ImportError:
        return Finding("warn", "HF weights", "huggingface_hub is not installed (needed by `gpt2tutor generate`)")
    cache = Path(constants.HF_HUB_CACHE)
    have = [name for name in GPT2_REPOS if (cache / name).is_dir()]
    status = "GPT-2 weights are cached there" if have else "GPT-2 weights not downloaded yet (about 550 MB)"
    return Finding("ok", "HF weights", f"{cache} — {status}")


def _serving() -> Finding:
    from .serving.launch import INSTALL_COMMAND, missing_serving_modules

    missing = missing_serving_modules()
    if missing:
        return Finding("warn", "Serving", f"not installed ({', '.join(missing)} missing), so `{PROG} serve` can't "
                                          f"run: {INSTALL_COMMAND}")
    return Finding("ok", "Serving", f"installed: `{PROG} serve` runs max serve")


# MAX's full warm (`max warm-interpreter-cache`), on request
FAMILIES = 20  # about how many op families `max warm-interpreter-cache` compiles
CORE_MINUTES = 16.0  # measured: about 8 minutes on 2 cores


def full_cache_minutes(cores: int | None = None) -> float:
    cores = cores or os.cpu_count() or 1
    return max(1.0, CORE_MINUTES / min(cores, FAMILIES))


def full_cache_command() -> list[str]:
    """`max warm-interpreter-cache`, from the same environment as this Python."""
    return [*maxenv.max_command(), "warm-interpreter-cache"]


def compile_full_cache(on_line: Callable[[str], None] = lambda line: None) -> tuple[int, str]:
    """Runs `max warm-interpreter-cache` (every eager op MAX has, once per machine), giving each line it prints
    to `on_line`; returns its exit code and its last lines. Ctrl-C stops it (and raises KeyboardInterrupt)."""
    import signal
    import subprocess

    env = maxenv.child_environment(PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(full_cache_command(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, errors="replace", bufsize=1, env=env,
                            start_new_session=True)
    lines: list[str] = []
    try:
        for raw in proc.stdout:
            line = raw.strip()
            if line:
                lines = (lines + [line])[-20:]
                on_line(line)
        code = proc.wait()
    except BaseException:
        from .processes import kill_tree

        kill_tree(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            kill_tree(proc.pid)
            proc.wait()
        raise
    return code, "\n".join(lines[-5:])


# --- proving the course ----------------------------------------------------------------------------------

def check_course(steps=None, *, seed: int | None = None, timeout: float | None = None, on_event: OnEvent | None = None):
    """`dev check`: every skeleton fails its check, every reference passes, every lesson and hint has text, every
    contract name exists; a devcheck.CourseReport."""
    from .devcheck import check_course as prove

    return prove(steps, seed=seed, timeout=timeout, on_event=on_event or ignore)


# --- serving ---------------------------------------------------------------------------------------------

READY_TIMEOUT_S = 1800.0  # a cold compile of 124M on a busy laptop takes minutes, not half an hour
EJECT_FILES = ("__init__.py", "config.py", "model.py")


class Serving:
    """One `max serve` run of the course's pipeline (the learner's files, or the reference solutions'),
    on `host:port`. `wait_ready()` until it answers; `stop()` ends every process it started."""

    def __init__(self, settings, server):
        self.settings = settings
        self.server = server

    @property
    def url(self) -> str:
        return self.settings.url

    @property
    def log_path(self) -> Path:
        return self.server.log_path

    def wait_ready(self, on_wait: Callable[[str], None] = lambda last_log_line: None,
                   timeout_s: float = READY_TIMEOUT_S) -> float:
        """Seconds until the server answers; `on_wait` gets MAX's last log line meanwhile."""
        from .serving.launch import ServerFailed

        try:
            return self.server.wait_ready(timeout_s, lambda s: on_wait(s.last_log_line()))
        except (ServerFailed, TimeoutError) as exc:
            raise TutorError(f"max serve failed to start: {exc} (its log: {self.server.log_path})", code=1) from None

    def wait(self) -> None:
        """Until the server stops: by itself (a TutorError), or Ctrl-C (KeyboardInterrupt)."""
        self.server.process.wait()
        raise TutorError(f"max serve stopped by itself ({self.server.last_log_line()}); its log: "
                         f"{self.server.log_path}", code=1)

    def stop(self) -> None:
        self.server.stop()


def serve(*, reference: bool = False, tutor: Tutor | None = None, workspace: Path | str | None = None,
          model: str = "gpt2", host: str = "127.0.0.1",
          port: int = 8000, max_batch_size: int = 4, device: str = "auto", on_event: OnEvent = ignore) -> Serving:
    """Starts `max serve` (MAX's OpenAI-compatible server) with the course's pipeline: the learner's files
    (`tutor`, or the workspace at `workspace`; every step must pass) or, with `reference`, the reference
    solutions. Binds `host`
    (loopback by default: anything else gets a warning Notice). Returns once the process started."""
    import signal
    import tempfile

    from . import quiet
    from .serving.launch import (
        INSTALL_COMMAND,
        Server,
        ServeSettings,
        is_loopback,
        missing_serving_modules,
        port_in_use,
    )

    missing = missing_serving_modules()
    if missing:
        raise TutorError(f"serving needs MAX's server, which is not installed ({', '.join(missing)} missing): "
                         f"run {INSTALL_COMMAND}")
    if not reference:
        tutor = tutor or open(workspace)
        tutor.require_all_passed("serve")
    if not is_loopback(host):
        on_event(Notice(f"Warning: listening on {host}: anyone who can reach this machine on port {port} can use the "
                        "model. Use --host 127.0.0.1 to keep it to this computer.", "warning"))
    if port_in_use(host, port):
        raise TutorError(f"port {port} on {host} is already in use (another server?): stop it, or pick another "
                         f"with --port")
    from .generation.checkpoint import CheckpointError, resolve
    from .maxenv import interrupts_deferred

    try:
        checkpoint = resolve(model)  # a download happens here, with HF's progress bars, never inside MAX
    except CheckpointError as exc:
        raise TutorError(str(exc)) from None
    device = resolve_device(device)
    if tutor is not None:
        config = checkpoint.config
        tutor.wait_for_graph({k: getattr(config, k) for k in graphs_sizes()}, on_event, device)
    name = Path(model).name if Path(model).expanduser().is_dir() else model
    settings = ServeSettings(folder=checkpoint.folder, name=name, host=host, port=port,
                             kind="reference" if reference else "learner",
                             exercises=tutor.exercises.resolve() if tutor is not None else None,
                             device=device, max_batch_size=max_batch_size)
    log_path = Path(tempfile.gettempdir()) / f"{PROG}-serve-{port}.log"
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # `kill` stops the server as Ctrl-C does
    quiet.foreign_notices_off()  # inherited by MAX's processes: its log, shown while it starts, says what matters
    with interrupts_deferred():  # a Ctrl-C now waits until the server exists, so stop() reaches it
        try:
            server = Server(settings, log_path)
        except OSError as exc:
            raise TutorError(f"can't start max serve: {exc.strerror or exc}") from None
    return Serving(settings, server)


def eject(folder: Path | str, *, reference: bool = False) -> tuple[list[str], str]:
    """Writes the architecture package `max serve` runs into `folder`, as plain files (never over a file that
    exists); returns the files written and the `max serve` command line that uses them."""
    from importlib import resources

    from .files import write_atomic
    from .serving.models import ENV_EXERCISES, ENV_MODEL

    folder = Path(folder).expanduser()
    if not folder.name.isidentifier():
        raise TutorError(f"--eject {folder}: MAX imports the folder as a Python package, so its name must be a "
                         "Python identifier (letters, digits, underscores), e.g. --eject ./my_gpt2")
    clashes = [f for f in EJECT_FILES if (folder / f).exists()]
    if clashes:
        raise TutorError(f"{folder} already holds {clashes[0]}: eject into a new folder, so no file of yours is "
                         "overwritten")
    try:
        source = resources.files("gpt2tutor.serving") / "arch"  # as files: importing the package would load MAX
        for name in EJECT_FILES:
            write_atomic(folder / name, source.joinpath(name).read_text(encoding="utf-8"))
    except OSError as exc:
        raise TutorError(f"can't write into {folder}: {exc.strerror or exc}") from None
    kind = "reference" if reference else "learner"
    env = f"{ENV_MODEL}={kind}" + ("" if reference else f" {ENV_EXERCISES}=<your exercises folder>")
    command = (f"{env} MAX_SERVE_DISABLE_TELEMETRY=1 max serve --custom-architectures {folder.resolve()} "
               "--model <checkpoint folder> --devices cpu --host 127.0.0.1 --port 8000 --max-batch-size 4")
    return list(EJECT_FILES), command
