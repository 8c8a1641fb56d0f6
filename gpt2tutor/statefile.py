"""The learner's progress file, read once per command: an older workspace migrated first, a damaged file
reported as `state.CorruptState`, and the file's stamp kept so that a long check re-reads it only when
another command wrote it meanwhile.

The read is the migration's probe as well: the schema is looked at in the bytes read, not in a second read.
"""

from __future__ import annotations

import os

from . import state as state_store
from .errors import TutorError
from .events import Migrated, Notice, OnEvent, ignore
from .state import CorruptState, State
from .workspace import Workspace

Stamp = tuple | None  # what the file was when read: (inode, size, mtime), None when there was none


def stamp(ws: Workspace) -> Stamp:
    try:
        info = os.stat(ws.state_file)
    except OSError:
        return None
    return info.st_ino, info.st_size, info.st_mtime_ns


def load(ws: Workspace, *, timeout: float | None = None, on_event: OnEvent = ignore) -> tuple[State, Stamp]:
    """The saved progress (a fresh one when there is none) and the file's stamp. A file from an older tutor is
    migrated first (one Notice, then a Migrated event); a damaged one raises CorruptState, kept as a backup."""
    path = ws.state_file
    seen = stamp(ws)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return State(), None
    except OSError as exc:
        raise TutorError(f"cannot read {path}: {exc.strerror or exc}") from None
    data = state_store.decode(ws, raw)
    schema = data.get("schema") if isinstance(data, dict) else None
    if isinstance(schema, int) and schema < state_store.SCHEMA and migrate(ws, timeout=timeout, on_event=on_event):
        return load(ws, timeout=timeout, on_event=on_event)
    ws.add_new_steps()  # migrated: an upgrade's new steps get their skeletons
    return state_store.parse(ws, data), seen


def fresh(ws: Workspace, state: State, seen: Stamp, *, timeout: float | None = None) -> State:
    """`state`, or the file read again when another command wrote it since `seen` (a hint asked during a check)."""
    if stamp(ws) == seen:
        return state
    try:
        return load(ws, timeout=timeout)[0]
    except CorruptState:
        return state


def migrate(ws: Workspace, *, timeout: float | None = None, on_event: OnEvent = ignore) -> bool:
    """Brings a workspace from an older tutor up to date; whether there was anything to do."""
    from .migration import migrate as run_migration  # runs checks: numpy, only when a workspace is old
    from .migration import needs_migration

    if not needs_migration(ws):
        return False
    on_event(Notice("Updating your workspace to this gpt2tutor's course…"))
    try:
        done = run_migration(ws, timeout=timeout)
    except OSError as exc:
        raise TutorError(f"cannot update the workspace {ws.root} to this gpt2tutor: {exc.strerror or exc}") from None
    if done is not None:
        on_event(Migrated(done.notice()))
    return done is not None


def save(ws: Workspace, state: State) -> Stamp:
    """Writes the progress; returns the file's new stamp."""
    try:
        state_store.save(ws, state)
    except OSError as exc:
        raise TutorError(f"cannot save your progress to {ws.state_file}: {exc.strerror or exc}") from None
    return stamp(ws)
