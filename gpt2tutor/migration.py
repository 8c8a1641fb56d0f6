"""Opening a workspace written by an older gpt2tutor, with nothing of the learner's lost.

Schema 1 was an earlier course; the course data (`[history.schema1]` in course.toml) says how many steps
it had and which of them this course renumbered (its text generation step moved to the end, after the
new steps on loading the weights and the KV cache). Migrating:
- state.json and each renumbered file are first copied into .gpt2tutor/backups/;
- a renumbered file takes its new name, its content unchanged (never over a file that exists);
- the records of the steps that kept their number (passes, hashes, hints) stay; a renumbered step keeps
  its hints and is re-checked (the course around it changed), the first failure saying what to change;
- the skeletons of the new steps are added; one notice says what happened.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

from . import state as state_store
from .registry import HISTORY, STEPS, get_step, span
from .state import State, StepRecord
from .workspace import Workspace

_SCHEMA1 = HISTORY.get("schema1", {})
OLD_STEPS = int(_SCHEMA1.get("steps", 0))  # how many steps schema 1's course had
RENAMED = dict(_SCHEMA1.get("renamed", {}))  # schema 1's step id -> this course's
KEPT = [s for s in STEPS[:OLD_STEPS] if s.id not in RENAMED]  # steps that kept their number
NEW = [s for s in STEPS if s not in KEPT and s.id not in RENAMED.values()]  # steps schema 1 did not have


@dataclass
class Migration:
    """What a migration did, for the one notice the CLI prints."""

    moved: tuple[str, str] | None = None  # (old file, new file)
    backups: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)  # skeletons put in
    recheck: str = ""  # the re-check of the renumbered steps, in one line

    def notice(self) -> str:
        new = " and ".join(f"{s.id} · {s.title}" for s in NEW)
        moved = "; ".join(f"{get_step(new_id).title.lower()} is step {new_id}" for new_id in RENAMED.values())
        lines = [f"This workspace was made by an older gpt2tutor, whose course had {OLD_STEPS} steps. It now has "
                 f"{len(STEPS)}: {new} {'are' if len(NEW) > 1 else 'is'} new, and {moved}."]
        if self.moved:
            lines.append(f"Your {self.moved[0]} is now {self.moved[1]}, unchanged.")
        lines.append(f"Your passes of {span(KEPT)} and the hints you used are kept"
                     + (f"; copies of the old files are in {', '.join(self.backups)}." if self.backups else "."))
        if self.added:
            lines.append(f"New skeletons: {', '.join(self.added)}.")
        if self.recheck:
            lines.append(self.recheck)
        return "\n".join(lines)


def schema_of(ws: Workspace) -> int | None:
    try:
        data = json.loads(ws.state_file.read_text("utf-8"))
    except (OSError, ValueError):
        return None
    schema = data.get("schema") if isinstance(data, dict) else None
    return schema if isinstance(schema, int) else None


def needs_migration(ws: Workspace) -> bool:
    return schema_of(ws) == 1


def migrate(ws: Workspace, *, timeout: float | None = None) -> Migration | None:
    """Brings a schema-1 workspace up to date; None when there is nothing to do."""
    if not needs_migration(ws):
        return None
    old = json.loads(ws.state_file.read_text("utf-8"))
    done = Migration()
    done.backups.append(str(ws.backup(ws.state_file, "schema1").relative_to(ws.root)))
    steps = old.get("steps") if isinstance(old.get("steps"), dict) else {}

    new = State()
    for sid, raw in steps.items():
        if sid in RENAMED:
            continue
        if sid in new.steps and isinstance(raw, dict):
            try:
                new.steps[sid] = StepRecord(**raw)
            except TypeError:
                pass  # a record we can't read stays fresh; the step is simply checked again
    moved = []
    for old_id, new_id in RENAMED.items():
        record = steps.get(old_id)
        if isinstance(record, dict) and isinstance(record.get("hints_used"), int):
            new.steps[new_id].hints_used = record["hints_used"]
        before = ws.exercises / f"step_{old_id}.py"
        after = ws.exercises / get_step(new_id).filename
        if before.exists():
            done.backups.append(str(ws.backup(before, "schema1").relative_to(ws.root)))
            if after.exists():  # never overwrite: keep both, the backup holds the old file
                before.unlink()
            else:
                os.replace(before, after)
            done.moved = (f"exercises/{before.name}", f"exercises/{after.name}")
        if after.exists():
            moved.append(get_step(new_id))
    done.added = [f"exercises/{s.filename}" for s in ws.copy_skeletons()]
    state_store.save(ws, new)
    for step in moved:
        done.recheck = _recheck(ws, new, step, timeout)
    return done


def _recheck(ws: Workspace, state: State, step, timeout: float | None) -> str:
    """Checks a renumbered step once and records the result; one line about it."""
    from .progress import apply_outcomes, check_steps

    outcomes = check_steps(ws, [step], timeout=timeout)
    apply_outcomes(state, outcomes)
    state_store.save(ws, state)
    outcome = outcomes[0]
    if outcome.passed:
        return f"Step {step.id} was re-checked and passes as it is."
    failure = next((r for r in outcome.results if not r.passed), None)
    reason = " ".join(failure.message.split()) if failure else "it did not pass"
    waits = " and ".join(b.id for b in State().blockers(step) if b in NEW)
    return (f"Step {step.id} was re-checked against the new course and needs a change: {reason[:400]} "
            f"(`gpt2tutor show {step.id}` explains; it unlocks once {waits} pass)")
