"""Finding, opening and starting a workspace: `find`, `open`, `start`, and the background compile `start`
launches."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from . import background, background_report, kernels, statefile, stepcheck, waiting
from .errors import TutorError
from .events import Notice, OnEvent, ignore
from .names import WORKSPACE_ENV
from .registry import STEPS, Step
from .state import State
from .tutor import Tutor
from .workspace import DEFAULT_DIR, WorkspaceError, create, edited, is_tutor_source, locate


@dataclass
class StartReport:
    tutor: Tutor
    in_source: bool  # the folder was chosen inside a clone of the tutor, which stays untouched
    resumed: bool  # the learner had progress or edited files here already
    added: list[Step]  # skeletons copied in
    had_files: bool  # some exercise files were there before
    state: State


def find(path: Path | str | None = None) -> Tutor | None:
    """The workspace `open` would give, or None when there is none to be found (no --workspace, no
    $GPT2TUTOR_WORKSPACE, no folder upward holding .gpt2tutor/); a TutorError for one given that is unusable."""
    if path is None and not os.environ.get(WORKSPACE_ENV):
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
    given = directory or workspace or (Path(os.environ[WORKSPACE_ENV]) if os.environ.get(WORKSPACE_ENV) else None)
    if given is not None:
        return given, False
    try:
        return locate(None).root, False  # inside (or next to) an existing workspace: resume it
    except WorkspaceError:
        pass
    here = Path.cwd()
    if is_tutor_source(here):  # a clone of the tutor: its skeletons are not the learner's to edit
        return here / DEFAULT_DIR, True
    if any((here / "exercises" / s.filename).exists() for s in STEPS):  # a folder that already holds exercises
        return here, False
    return here / DEFAULT_DIR, False


def start(directory: Path | str | None = None, *, workspace: Path | str | None = None,
          on_event: OnEvent = ignore) -> StartReport:
    """Creates a workspace, or resumes one: copies the skeletons in (never over a file that exists), starts
    the background compile of MAX's kernels, and finds where the learner is. Safe to run again."""
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
        statefile.migrate(ws, on_event=on_event)  # an older tutor's workspace first: no skeleton lands on a renamed file
        added = ws.copy_skeletons()
    except WorkspaceError as exc:
        raise TutorError(str(exc)) from None
    except OSError as exc:
        raise TutorError(f"cannot set up the exercises in {root / 'exercises'}: {exc.strerror or exc}") from None
    worked_on = [s for s in existing if edited(ws, s)]
    state = tutor.load_and_repair_state(on_event=on_event)
    resumed = (had_state and any(state.record(s).passed or state.record(s).hints_used for s in STEPS)) \
        or bool(worked_on)
    report = StartReport(tutor, in_source, resumed, added, bool(existing), state)
    start_background(on_event)
    if not had_state and worked_on:
        # exercises from before but no progress file: find out where the learner is
        on_event(Notice("Found exercises you already worked on: checking them to pick up where you left off."))
        state = stepcheck.rebuild(ws, State(), on_event=on_event, settle=True)[0]
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
    if background_report.running():
        on_event(BackgroundBusy())
        return
    first, first_s, all_s = waiting.first_estimates()
    try:
        proc = background.launch()
    except OSError as exc:
        on_event(BackgroundFailed(str(exc)))
        return
    if proc is not None:
        on_event(BackgroundStarted(proc.pid, first, first_s, all_s))


def background_log() -> Path:
    """Where the background process writes its log."""
    return background_report.log_path()
