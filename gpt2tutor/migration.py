"""Opening a workspace written by an older gpt2tutor, with nothing of the learner's lost.

Schema 1 (the 12-step course): text generation was step 12, in exercises/step_12.py. Schema 2 added
12 · Loading the real weights and 13 · The KV cache, and generation became step 14. Migrating:
- state.json and step_12.py are first copied into .gpt2tutor/backups/;
- step_12.py becomes step_14.py, its content unchanged;
- the records of 01-11 (passes, hashes, hints) stay; step 14 keeps its hints and is re-checked
  (its model now keeps a cache), the first failure saying what to change;
- the skeletons of 12 and 13 are added; one notice says what happened.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

from . import state as state_store
from .curriculum import STEPS, get_step
from .state import State, StepRecord
from .workspace import Workspace

GENERATION_BEFORE, GENERATION_NOW = "12", "14"


@dataclass
class Migration:
    """What a migration did, for the one notice the CLI prints."""

    moved: tuple[str, str] | None = None  # (old file, new file)
    backups: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)  # skeletons put in
    recheck: str = ""  # the re-check of step 14, in one line

    def notice(self) -> str:
        lines = ["This workspace was made by an older gpt2tutor, whose course had 12 steps. It now has "
                 f"{len(STEPS)}: 12 · {get_step(12).title} and 13 · {get_step(13).title} are new, and text "
                 "generation is step 14."]
        if self.moved:
            lines.append(f"Your {self.moved[0]} is now {self.moved[1]}, unchanged.")
        lines.append("Your passes of 01-11 and the hints you used are kept"
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
        if sid == GENERATION_BEFORE:
            continue
        if sid in new.steps and isinstance(raw, dict):
            try:
                new.steps[sid] = StepRecord(**raw)
            except TypeError:
                pass  # a record we can't read stays fresh; the step is simply checked again
    generation = steps.get(GENERATION_BEFORE)
    if isinstance(generation, dict) and isinstance(generation.get("hints_used"), int):
        new.steps[GENERATION_NOW].hints_used = generation["hints_used"]

    before = ws.exercises / "step_12.py"
    after = ws.exercises / get_step(GENERATION_NOW).filename
    if before.exists():
        done.backups.append(str(ws.backup(before, "schema1").relative_to(ws.root)))
        if after.exists():  # never overwrite: keep both, the backup holds the old step 12
            before.unlink()
        else:
            os.replace(before, after)
        done.moved = (f"exercises/{before.name}", f"exercises/{after.name}")
    done.added = [f"exercises/{s.filename}" for s in ws.copy_skeletons()]
    state_store.save(ws, new)
    if after.exists():
        done.recheck = _recheck(ws, new, timeout)
    return done


def _recheck(ws: Workspace, state: State, timeout: float | None) -> str:
    """Checks step 14 (the old step 12's file) once and records the result; one line about it."""
    from .grading import apply_outcomes, check_steps

    outcomes = check_steps(ws, [get_step(GENERATION_NOW)], timeout=timeout)
    apply_outcomes(state, outcomes)
    state_store.save(ws, state)
    outcome = outcomes[0]
    if outcome.passed:
        return "Step 14 was re-checked and passes as it is."
    failure = next((r for r in outcome.results if not r.passed), None)
    reason = " ".join(failure.message.split()) if failure else "it did not pass"
    return (f"Step 14 was re-checked against the new course and needs a change: {reason[:400]} "
            f"(`gpt2tutor show 14` explains; it unlocks once 12 and 13 pass)")
