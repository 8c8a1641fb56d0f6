"""Where the learner works: finding the workspace, its exercise files, and copying skeletons in."""

from __future__ import annotations

import ast
import hashlib
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from .files import write_atomic
from .names import WORKSPACE_ENV
from .registry import STEPS, Step

MARKER = ".gpt2tutor"
DEFAULT_DIR = "gpt2-workspace"


class WorkspaceError(Exception):
    """A workspace that can't be found or used; the message is one line for the learner."""


@dataclass(frozen=True)
class Workspace:
    root: Path

    @property
    def exercises(self) -> Path:
        return self.root / "exercises"

    @property
    def meta(self) -> Path:
        return self.root / MARKER

    @property
    def state_file(self) -> Path:
        return self.meta / "state.json"

    @property
    def backups(self) -> Path:
        return self.meta / "backups"

    def exercise(self, step: Step) -> Path:
        return self.exercises / step.filename

    def file_hash(self, step: Step) -> str | None:
        try:
            return hashlib.sha256(self.exercise(step).read_bytes()).hexdigest()
        except OSError:
            return None

    def backup(self, path: Path, label: str) -> Path:
        """Copies `path` into the backups folder under a timestamped name; returns the copy."""
        self.backups.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        target = self.backups / f"{path.name}.{label}-{stamp}"
        n = 1
        while target.exists():
            n += 1
            target = self.backups / f"{path.name}.{label}-{stamp}-{n}"
        shutil.copy2(path, target)
        return target

    def copy_skeletons(self, *, after: Step | None = None) -> list[Step]:
        """Copies each missing skeleton (of the steps after `after`, when given) into exercises/; never touches an
        existing file."""
        self.exercises.mkdir(parents=True, exist_ok=True)
        added = []
        for step in STEPS:
            path = self.exercise(step)
            if (after is None or step.number > after.number) and not path.exists():
                write_atomic(path, step.skeleton())
                added.append(step)
        return added

    def add_new_steps(self) -> None:
        """The skeletons of the steps the course gained after this workspace's last exercise file (an upgrade
        that added a step), as `start` would put them; never over a file that exists. Call it once the
        workspace is migrated: a migration may move a file to a later step's name."""
        have = [s for s in STEPS if self.exercise(s).exists()]
        if have:
            try:
                self.copy_skeletons(after=have[-1])
            except OSError:
                pass  # a read-only workspace: `start` says so when the learner runs it

    def restore_skeleton(self, step: Step) -> Path | None:
        """Puts the pristine skeleton back, first backing up the learner's file; returns the backup."""
        path = self.exercise(step)
        saved = self.backup(path, "reset") if path.exists() else None
        self.exercises.mkdir(parents=True, exist_ok=True)
        write_atomic(path, step.skeleton())
        return saved

    def check_usable(self) -> None:
        if not self.exercises.is_dir():
            raise WorkspaceError(
                f"{self.exercises} is missing: run `gpt2tutor start {self.root}` to put the exercises back"
            )


def is_tutor_source(folder: Path) -> bool:
    """Whether `folder` is a checkout of gpt2tutor itself (the course's pristine skeletons live inside it)."""
    return (folder / "gpt2tutor" / "course" / "course.toml").is_file() and (folder / "pyproject.toml").is_file()


def create(root: Path) -> Workspace:
    """Makes (or resumes) a workspace at `root`."""
    if root.exists() and not root.is_dir():
        raise WorkspaceError(f"{root} is a file, not a folder")
    try:
        (root / MARKER).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WorkspaceError(f"cannot create a workspace in {root}: {exc.strerror}") from None
    if not os.access(root / MARKER, os.W_OK):
        raise WorkspaceError(f"cannot write to {root / MARKER}: the folder is read-only")
    return Workspace(root.resolve())


def locate(explicit: Path | None) -> Workspace:
    """The workspace from --workspace, else $GPT2TUTOR_WORKSPACE, else the nearest one upward."""
    given = explicit or (Path(os.environ[WORKSPACE_ENV]) if os.environ.get(WORKSPACE_ENV) else None)
    if given is not None:
        if not given.exists():
            raise WorkspaceError(f"workspace {given} does not exist: create it with `gpt2tutor start {given}`")
        if not given.is_dir():
            raise WorkspaceError(f"workspace {given} is a file, not a folder")
        if not (given / MARKER).is_dir():
            raise WorkspaceError(f"{given} is not a gpt2tutor workspace: run `gpt2tutor start {given}` first")
        return Workspace(given.resolve())
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / MARKER).is_dir():
            return Workspace(folder)
    default = here / DEFAULT_DIR
    if (default / MARKER).is_dir():
        return Workspace(default)
    raise WorkspaceError("no workspace here: run `gpt2tutor start` to make one, or pass --workspace DIR")


def edited(ws: Workspace, step: Step) -> bool:
    """Whether the learner's file differs from the skeleton (an unreadable file counts as edited)."""
    try:
        return ws.exercise(step).read_text("utf-8") != step.skeleton()
    except (OSError, UnicodeDecodeError):
        return True


def imported_steps(ws: Workspace, step: Step) -> list[Step]:
    """Earlier steps the learner's file imports, directly or through those files (by reading them)."""
    earlier = {s.module: s for s in STEPS[: STEPS.index(step)]}
    seen: set[Step] = set()
    todo = [step]
    while todo:
        current = todo.pop()
        try:
            tree = ast.parse(ws.exercise(current).read_text("utf-8"))
        except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
            continue
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            for name in names:
                found = earlier.get(name.split(".")[0])
                if found is not None and found not in seen:
                    seen.add(found)
                    todo.append(found)
    return [s for s in STEPS if s in seen]
