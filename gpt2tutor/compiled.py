"""The compiled-graph verdict: a step declared `compiled` in course.toml passes only if its model, compiled
in the background at the real GPT-2's sizes (gpt2tutor.graphs), computes what it does eagerly.

The check pipeline asks `judge` after the step's own checks and `queue` once the model's steps pass; the
progress views ask `problem`. Nothing here names a step: the course's data says which.
"""

from __future__ import annotations

from pathlib import Path

from . import background, graphs
from .checking.results import Result
from .events import Notice, OnEvent
from .registry import STEPS, Step
from .state import State
from .workspace import Workspace


def steps() -> list[Step]:
    """The steps whose verdict waits on the compiled model."""
    return [s for s in STEPS if s.compiled]


def problem(exercises: Path) -> str:
    """What the background compile found wrong with the learner's compiled model, for their files as they are
    now ("" when nothing, or not compiled yet)."""
    found = graphs.verdict(graphs.key(exercises))
    return found.message if found is not None and found.state == "disagrees" else ""


def judge(chosen: Step, outcome, exercises: Path, on_event: OnEvent) -> None:
    """For a compiled step whose checks passed, where the background compiled its model already: the verdict
    becomes a result of the check."""
    if not chosen.compiled or not outcome.passed:
        return
    found = graphs.verdict(graphs.key(exercises))
    if found is None or found.state == "failed":
        return
    name = "your cached model, compiled in the background at the real GPT-2's sizes, computes what it does eagerly"
    detail = f"they agree (largest difference {found.worst:.1e})" if found.agrees and found.worst is not None else ""
    result = Result(chosen.id, "behaviour", name, found.agrees, detail if found.agrees else found.message)
    outcome.results.append(result)
    on_event(result)


def queue(ws: Workspace, state: State, on_event: OnEvent) -> None:
    """Once every step of the cached model passes: its compile at GPT-2 124M's sizes, in the background."""
    if not steps() or not all(state.status(s, ws) == "passed" for s in graphs.model_steps()):
        return
    devices = ["gpu", "cpu"] if graphs.gpu_present() else ["cpu"]  # a GPU's first: a learner who has one uses it
    if [graphs.queue(ws.exercises, device) for device in devices][-1]:
        launched = background.launch_if_needed()
        on_event(Notice("MAX compiles your cached GPT-2 in the background now, at the real GPT-2's sizes, and "
                        "checks the compiled numbers against your eager model: `gpt2tutor generate` finds it "
                        f"compiled (about {round(graphs.ESTIMATE / 60)} min on 2 cores, once per version of your "
                        "code)." + (f" (process {launched.pid})" if launched is not None else "")))
