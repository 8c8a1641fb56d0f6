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

This module is the face: each capability lives in a module of its own, named after it (tutor, opening,
stepcheck, generating, doctor, fullcache, serve), and is re-exported here.
"""

from __future__ import annotations

from . import __version__
from .checking.results import PHASE_TITLES, Result
from .doctor import DoctorReport, Finding, doctor
from .durations import duration
from .errors import CheckCancelled, TutorError
from .events import (
    Compiled,
    Compiling,
    Launched,
    Migrated,
    Notice,
    OnEvent,
    Phase,
    StepSettled,
    Waiting,
    WaitOver,
    ignore,
)
from .fullcache import FAMILIES, compile_full_cache, full_cache_command, full_cache_minutes
from .generating import (
    DEFAULT_MAX_NEW_TOKENS,
    AttentionMap,
    Generation,
    GenerationResult,
    Token,
    attention,
    generate,
    validate_settings,
)
from .maxinternals import native_loaded as max_loaded
from .names import PROG
from .opening import (
    BackgroundBusy,
    BackgroundFailed,
    BackgroundStarted,
    StartReport,
    background_log,
    find,
    open,
    start,
    start_background,
)
from .registry import DEBUGGING_GUIDE, LESSONS, STEPS, Step, debugging_guide, lesson
from .serve import Serving, eject, serve
from .state import State
from .stepcheck import CheckReport, RebuildReport, default_timeout, dependency_notes, run_checks_on
from .tutor import Hint, StepStatus, Tutor, step
from .workspace import Workspace

__all__ = [
    "__version__", "PROG", "PHASE_TITLES", "duration",
    "TutorError", "CheckCancelled", "Tutor", "find", "open", "start", "start_background", "step", "lesson",
    "LESSONS", "STEPS", "Step", "State", "Workspace", "DEBUGGING_GUIDE", "debugging_guide",
    "StepStatus", "CheckReport", "RebuildReport", "Hint", "StartReport", "dependency_notes", "default_timeout",
    "run_checks_on", "background_log", "BackgroundStarted", "BackgroundBusy", "BackgroundFailed",
    "generate", "validate_settings", "max_loaded", "Generation", "GenerationResult", "Token", "DEFAULT_MAX_NEW_TOKENS",
    "attention", "AttentionMap", "doctor", "DoctorReport", "Finding",
    "FAMILIES", "compile_full_cache", "full_cache_command", "full_cache_minutes",
    "serve", "eject", "Serving", "check_course",
    "Result", "Compiling", "Compiled", "Launched", "Migrated", "Notice", "Phase", "StepSettled", "Waiting",
    "WaitOver", "OnEvent", "ignore",
]


def check_course(steps=None, *, seed: int | None = None, timeout: float | None = None, on_event: OnEvent | None = None):
    """`dev check`: every skeleton fails its check, every reference passes, every lesson and hint has text, every
    contract name exists; a devcheck.CourseReport."""
    from .devcheck import check_course as prove

    return prove(steps, seed=seed, timeout=timeout, on_event=on_event or ignore)
