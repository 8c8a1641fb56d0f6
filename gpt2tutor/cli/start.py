"""`gpt2tutor start [DIR]`: create or resume a workspace."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape

from ..curriculum import STEPS
from ..state import State
from ..workspace import DEFAULT_DIR, ENV_VAR, WorkspaceError, create, locate
from . import warmup
from .common import CliError, WorkspaceOption, console, load_state, migrate_workspace, require_writable, save_state
from .display import next_step_hint, overview


def _choose_root(directory: Path | None, workspace: Path | None) -> Path:
    if directory is not None and workspace is not None and directory.resolve() != workspace.resolve():
        raise CliError(f"two different workspaces given: {directory} and --workspace {workspace}")
    given = directory or workspace or (Path(os.environ[ENV_VAR]) if os.environ.get(ENV_VAR) else None)
    if given is not None:
        return given
    try:
        return locate(None).root  # inside (or next to) an existing workspace: resume it
    except WorkspaceError:
        pass
    here = Path.cwd()
    if any((here / "exercises").glob("step_*.py")):  # a folder that already holds exercises
        return here
    return here / DEFAULT_DIR


def start(
    directory: Annotated[Optional[Path], typer.Argument(
        metavar="DIR", show_default=False,
        help=f"Where to work (default: the workspace you are in, else ./{DEFAULT_DIR}).")] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Create a workspace, or resume one: copies the exercise skeletons into DIR/exercises/ (never
    overwriting a file you have) and shows where you are and what to do next. Safe to run again."""
    root = _choose_root(directory, workspace)
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
    resumed = had_state or bool(existing)
    if resumed:
        out.print(f"[bold]Welcome back.[/] Resuming your workspace at [bold]{escape(str(ws.root))}[/].")
    else:
        out.print(f"[bold]Welcome to gpt2tutor![/] You will build GPT-2 (124M) in Modular MAX in {len(STEPS)} "
                  f"checked steps, then run it with OpenAI's real weights.\n"
                  f"Your workspace is [bold]{escape(str(ws.root))}[/]; your files are in "
                  f"[bold]{escape(str(ws.exercises))}[/].")
    if added and resumed:
        out.print(f"Added the missing exercise files: {', '.join(s.filename for s in added)}.")

    warmup.start_in_background(err)
    state = load_state(ws)
    if not had_state and _edited(ws, existing):
        # exercises from before but no progress file: find out where the learner is
        from .runs import rebuild_state

        err.print("Found exercises you already worked on: checking them to pick up where you left off.")
        state, _ = rebuild_state(ws, State(), ui=err)
    save_state(ws, state)

    out.print()
    out.print(overview(state, ws))
    out.print()
    out.print(next_step_hint(state))


def _edited(ws, steps) -> bool:
    for step in steps:
        try:
            if ws.exercise(step).read_text("utf-8") != step.skeleton():
                return True
        except (OSError, UnicodeDecodeError):
            return True
    return False


def register(app: typer.Typer) -> None:
    app.command("start")(start)
