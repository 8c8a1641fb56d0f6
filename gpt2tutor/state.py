"""The learner's progress in `.gpt2tutor/state.json`: versioned, validated, written atomically.

Its version is the course's schema (registry.SCHEMA); migration.py brings an older one forward."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from .files import write_atomic
from .registry import SCHEMA, STEPS, Step, prerequisites  # SCHEMA: the version state.json carries (course data)
from .workspace import Workspace


class CorruptState(Exception):
    """state.json could not be used; it has been copied to `backup`."""

    def __init__(self, reason: str, backup: Path):
        super().__init__(reason)
        self.reason = reason
        self.backup = backup


@dataclass
class StepRecord:
    passed: bool = False
    passed_at: str | None = None
    hash: str | None = None  # sha256 of the file that passed
    hints_used: int = 0


@dataclass
class State:
    steps: dict[str, StepRecord] = field(default_factory=lambda: {s.id: StepRecord() for s in STEPS})

    def record(self, step: Step) -> StepRecord:
        return self.steps[step.id]

    @property
    def current(self) -> Step:
        """The first step not passed (the last step once every one passes)."""
        return next((s for s in STEPS if not self.record(s).passed), STEPS[-1])

    def passed_count(self) -> int:
        return sum(1 for s in STEPS if self.record(s).passed)

    def status(self, step: Step, workspace: Workspace) -> str:
        """locked · todo · passed · changed (since it passed)."""
        rec = self.record(step)
        if rec.passed:
            return "passed" if workspace.file_hash(step) == rec.hash else "changed"
        return "todo" if self.unlocked(step) else "locked"

    def blockers(self, step: Step) -> list[Step]:
        """The prerequisites of `step` (see the registry) that do not pass yet."""
        return [s for s in prerequisites(step) if not self.record(s).passed]

    def unlocked(self, step: Step) -> bool:
        return not self.blockers(step)

    def mark(self, step: Step, passed: bool, file_hash: str | None) -> None:
        """Records a check result (the current step, derived, follows: the first step not passed)."""
        rec = self.record(step)
        if passed:
            rec.passed, rec.hash = True, file_hash
            rec.passed_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        else:
            rec.passed, rec.hash, rec.passed_at = False, None, None

    def to_json(self) -> dict:
        return {
            "schema": SCHEMA,
            "current": self.current.number,  # derived; written for readers of the file
            "steps": {sid: vars(rec) for sid, rec in self.steps.items()},
        }

    @classmethod
    def from_json(cls, data: object) -> State:
        """Validates the shape; raises ValueError with the reason when it is wrong."""
        if not isinstance(data, dict):
            raise ValueError("it is not a JSON object")
        schema = data.get("schema")
        if not isinstance(schema, int):
            raise ValueError("it has no schema version")
        if schema > SCHEMA:
            raise ValueError(f"it was written by a newer gpt2tutor (schema {schema}, this one reads {SCHEMA})")
        if schema != SCHEMA:
            raise ValueError(f"its schema version {schema} is unknown")
        current, steps = data.get("current"), data.get("steps")
        if not isinstance(current, int) or not 1 <= current <= len(STEPS) or not isinstance(steps, dict):
            raise ValueError("its fields are not the expected ones")
        state = cls()
        for sid, raw in steps.items():
            if sid not in state.steps or not isinstance(raw, dict):
                raise ValueError(f"it has an unknown step entry {sid!r}")
            try:
                rec = StepRecord(**raw)
            except TypeError:
                raise ValueError(f"step {sid} has unexpected fields") from None
            if not isinstance(rec.passed, bool) or not isinstance(rec.hints_used, int) or rec.hints_used < 0:
                raise ValueError(f"step {sid} has values of the wrong type")
            state.steps[sid] = rec
        return state


def decode(workspace: Workspace, raw: bytes) -> object:
    """state.json's bytes as JSON; raises CorruptState (the file kept as a backup) when they are not."""
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        reason = "it is not valid JSON (truncated or edited by hand?)"
    raise CorruptState(reason, workspace.backup(workspace.state_file, "corrupt"))


def parse(workspace: Workspace, data: object) -> State:
    """The State that decoded JSON holds; raises CorruptState (the file kept as a backup) when it holds none."""
    try:
        return State.from_json(data)
    except ValueError as exc:
        reason = str(exc)
    raise CorruptState(reason, workspace.backup(workspace.state_file, "corrupt"))


def load(workspace: Workspace) -> State:
    """The saved state; a fresh one when there is none. Raises CorruptState for a bad file."""
    try:
        raw = workspace.state_file.read_bytes()
    except FileNotFoundError:
        return State()
    return parse(workspace, decode(workspace, raw))


def save(workspace: Workspace, state: State) -> None:
    """Writes state.json atomically: a reader sees the old file or the new one, never half of one."""
    write_atomic(workspace.state_file, json.dumps(state.to_json(), indent=2), durable=True)
