"""Opening a workspace written by an older gpt2tutor, with nothing of the learner's lost.

Each earlier course is declared in course.toml (`[history.schemaN]`, read by the registry): how many steps it
had and which of them the course after it renumbered. A workspace of schema N is brought forward one
declared schema at a time, by the same loop, up to this course's (registry.SCHEMA):
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
from .registry import HISTORY, STEPS, Schema, span, step_id, step_module
from .state import State, StepRecord
from .workspace import Workspace


@dataclass
class Migration:
    """What a migration did, for the one notice the CLI prints."""

    old_steps: int = 0  # how many steps the workspace's course had
    kept: list = field(default_factory=list)  # the steps that kept their number all the way
    renumbered: list = field(default_factory=list)  # the steps that took a new number
    moved: list[tuple[str, str]] = field(default_factory=list)  # (old file, new file)
    backups: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)  # skeletons put in
    recheck: list[str] = field(default_factory=list)  # the re-check of each renumbered step, in one line

    @property
    def new(self) -> list:
        """The steps the workspace's course did not have."""
        return [s for s in STEPS if s not in self.kept and s not in self.renumbered]

    def notice(self) -> str:
        parts = []
        if self.new:
            named = [f"{s.id} · {s.title}" for s in self.new]
            listed = " and ".join([", ".join(named[:-1]), named[-1]] if len(named) > 1 else named)
            parts.append(f"{listed} {'are' if len(self.new) > 1 else 'is'} new")
        parts += [f"{s.title.lower()} is step {s.id}" for s in self.renumbered]
        lines = [f"This workspace was made by an older gpt2tutor, whose course had {self.old_steps} steps. It now has "
                 f"{len(STEPS)}: {', and '.join(parts) or 'the same steps'}."]
        lines += [f"Your {old} is now {new}, unchanged." for old, new in self.moved]
        kept = f"Your passes of {span(self.kept)} and the hints you used are kept" if self.kept else \
            "The hints you used are kept"
        lines.append(kept + (f"; copies of the old files are in {', '.join(self.backups)}." if self.backups else "."))
        if self.added:
            lines.append(f"New skeletons: {', '.join(self.added)}.")
        return "\n".join(lines + self.recheck)


def schema_of(ws: Workspace) -> int | None:
    try:
        data = json.loads(ws.state_file.read_text("utf-8"))
    except (OSError, ValueError):
        return None
    schema = data.get("schema") if isinstance(data, dict) else None
    return schema if isinstance(schema, int) else None


def pending(ws: Workspace) -> list[Schema]:
    """The declared schemas the workspace must pass through, oldest first (none when it is current)."""
    schema = schema_of(ws)
    return [h for h in HISTORY if h.number >= schema] if schema in {h.number for h in HISTORY} else []


def needs_migration(ws: Workspace) -> bool:
    return bool(pending(ws))


def _ids(count: int) -> set[str]:
    return {step_id(n) for n in range(1, count + 1)}


def _count_after(schema: Schema) -> int:
    """How many steps the course after `schema` has."""
    return HISTORY[schema.number].steps if schema.number < len(HISTORY) else len(STEPS)


def migrate(ws: Workspace, *, timeout: float | None = None) -> Migration | None:
    """Brings a workspace of a declared earlier schema up to this course's; None when there is nothing to do."""
    hops = pending(ws)
    if not hops:
        return None
    old = json.loads(ws.state_file.read_text("utf-8"))
    done = Migration(old_steps=hops[0].steps)
    done.backups.append(_backup(ws, ws.state_file, hops[0]))
    steps = old.get("steps") if isinstance(old.get("steps"), dict) else {}
    records = {sid: raw for sid, raw in steps.items() if isinstance(raw, dict)}
    kept, renumbered = _ids(hops[0].steps), set()
    moves: dict[str, str] = {}  # the file a learner had -> the name it has now
    for hop in hops:
        records, kept, renumbered = _forward(hop, records, kept, renumbered)
        for before, after in _move_files(ws, hop, done.backups).items():
            first = next((k for k, v in moves.items() if v == before), before)
            moves[first] = after
    new = State()
    for sid, raw in records.items():
        if sid in new.steps:
            try:
                new.steps[sid] = StepRecord(**raw)
            except TypeError:
                pass  # a record we can't read stays fresh; the step is simply checked again
    done.kept = [s for s in STEPS if s.id in kept]
    done.renumbered = [s for s in STEPS if s.id in renumbered]
    done.moved = [(f"exercises/{a}", f"exercises/{b}") for a, b in moves.items()]
    done.added = [f"exercises/{s.filename}" for s in ws.copy_skeletons()]
    state_store.save(ws, new)
    for step in done.renumbered:
        if ws.exercise(step).exists():
            done.recheck.append(_recheck(ws, new, step, done, timeout))
    return done


def _forward(hop: Schema, records: dict, kept: set, renumbered: set) -> tuple[dict, set, set]:
    """The records, the kept ids and the renumbered ids one schema on: a renumbered step keeps only its hints,
    and a step the next course has no place for is dropped."""
    valid, targets = _ids(_count_after(hop)), set(hop.renamed.values())

    def stays(sid: str) -> bool:
        return sid in valid and sid not in hop.renamed and sid not in targets

    moved = {}
    for sid, new_id in hop.renamed.items():
        hints = records.get(sid, {}).get("hints_used")
        moved[new_id] = {"hints_used": hints} if isinstance(hints, int) else {}
    records = {sid: raw for sid, raw in records.items() if stays(sid)} | moved
    kept = {sid for sid in kept if stays(sid)}
    renumbered = {hop.renamed.get(sid, sid) for sid in renumbered if sid in hop.renamed or stays(sid)} | targets
    return records, kept, renumbered


def _backup(ws: Workspace, path, hop: Schema) -> str:
    return str(ws.backup(path, f"schema{hop.number}").relative_to(ws.root))


def _move_files(ws: Workspace, hop: Schema, backups: list[str]) -> dict[str, str]:
    """Renames the hop's renumbered files (each backed up first), all sources set aside before any lands, so a
    file never lands on one still to move; returns {old name: new name} for those that moved."""
    staged = []
    for old_id, new_id in hop.renamed.items():
        before = ws.exercises / f"{step_module(old_id)}.py"
        if before.exists():
            backups.append(_backup(ws, before, hop))
            aside = before.with_name(f".{before.name}.moving")
            os.replace(before, aside)
            staged.append((aside, before.name, f"{step_module(new_id)}.py"))
    moved = {}
    for aside, old_name, new_name in staged:
        after = ws.exercises / new_name
        if after.exists():  # never overwrite: keep the learner's file there, the backup holds the moved one
            aside.unlink()
        else:
            os.replace(aside, after)
            moved[old_name] = new_name
    return moved


def _recheck(ws: Workspace, state: State, step, done: Migration, timeout: float | None) -> str:
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
    waits = " and ".join(b.id for b in State().blockers(step) if b in done.new)
    return (f"Step {step.id} was re-checked against the new course and needs a change: {reason[:400]}"
            + (f" (`gpt2tutor show {step.id}` explains; it unlocks once {waits} pass)" if waits else
               f" (`gpt2tutor show {step.id}` explains)"))

