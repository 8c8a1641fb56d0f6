"""`gpt2tutor start [DIR]`: create or resume a workspace."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape

from ..curriculum import STEPS
from ..grading import edited
from ..state import State
from ..workspace import DEFAULT_DIR, ENV_VAR, WorkspaceError, create, is_tutor_source, locate
from . import warmup
from .common import CliError, WorkspaceOption, console, require_writable
from .display import next_step_hint, overview
from .session import load_state, migrate_workspace, rebuild, save_state


def _choose_root(directory: Path | None, workspace: Path | None) -> tuple[Path, bool]:
    """Where to work, and whether that was chosen for the learner inside the tutor's own source tree."""
    if directory is not None and workspace is not None and directory.resolve() != workspace.resolve():
        raise CliError(f"two different workspaces given: {directory} and --workspace {workspace}")
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


def start(
    directory: Annotated[Optional[Path], typer.Argument(
        metavar="DIR", show_default=False,
        help=f"Where to work (default: the workspace you are in, else ./{DEFAULT_DIR}).")] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Create a workspace, or resume one: copies the exercise skeletons into DIR/exercises/ (never
    overwriting a file you have) and shows where you are and what to do next. Safe to run again."""
    root, in_source = _choose_root(directory, workspace)
    if root.exists() and not root.is_dir():
        raise CliError(f"{root} is a file, not a folder")
    had_state = (root / ".gpt2tutor" / "state.json").exists()
    existing = [s for s in STEPS if (root / "exercises" / s.filename).exists()]
    try:
        ws = create(root)
        if ws.exercises.exists():
            require_writable(ws)
        migrate_workspace(ws)  # an older tutor's workspace first, so no skeleton lands on a renamed step's file
        added = ws.copy_skeletons()
    except WorkspaceError as exc:
        raise CliError(str(exc)) from None
    except OSError as exc:
        raise CliError(f"cannot set up the exercises in {root / 'exercises'}: {exc.strerror or exc}") from None

    out, err = console(), console(stderr=True)
    if in_source:
        out.print(f"This folder holds the tutor's own source, so your workspace is [bold]{escape(str(ws.root))}[/] "
                  "(the clone itself stays untouched).")
    worked_on = [s for s in existing if edited(ws, s)]
    state = load_state(ws)
    resumed = (had_state and any(state.record(s).passed or state.record(s).hints_used for s in STEPS)) \
        or bool(worked_on)
    if resumed:
        out.print(f"[bold]Welcome back.[/] Resuming your workspace at [bold]{escape(str(ws.root))}[/].")
    else:
        out.print(f"[bold]Welcome to gpt2tutor![/] You will build GPT-2 (124M) in Modular MAX in {len(STEPS)} "
                  f"checked steps, then run it with OpenAI's real weights.\n"
                  f"Your workspace is [bold]{escape(str(ws.root))}[/]; your files are in "
                  f"[bold]{escape(str(ws.exercises))}[/].")
    if added and existing:
        out.print(f"Added the missing exercise files: {', '.join(s.filename for s in added)}.")

    warmup.start_in_background(err)
    if not had_state and worked_on:
        # exercises from before but no progress file: find out where the learner is
        err.print("Found exercises you already worked on: checking them to pick up where you left off.")
        state, _ = rebuild(ws, State(), err)
    save_state(ws, state)

    out.print()
    out.print(overview(state, ws))
    out.print()
    out.print(next_step_hint(state))


def register(app: typer.Typer) -> None:
    app.command("start")(start)
