"""`gpt2tutor start [DIR]`: create or resume a workspace."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from .. import api
from ..api import duration
from ..registry import STEPS
from .common import WorkspaceOption, console
from .render import Renderer, cores_text, next_step_hint, overview


class StartView(Renderer):
    """Draws `start`'s own events (the background compile) besides the usual ones."""

    def __call__(self, event) -> None:
        if isinstance(event, api.BackgroundStarted):
            self.err.print(
                f"[bold]MAX compiles its kernels the first time it runs on a machine.[/] The ones the checks use are "
                f"compiling now in the background (process {event.pid}, niced): step {event.first}'s in about "
                f"{duration(event.first_s)}, all in about {duration(event.all_s)} with {cores_text()}. Read the "
                f"first lesson meanwhile; `gpt2tutor check` waits for them only if it has to.")
        elif isinstance(event, api.BackgroundBusy):
            self.err.print("[bold]MAX is compiling the checks' kernels in the background[/] (started earlier): "
                           "`gpt2tutor doctor` shows how far it is.")
        elif isinstance(event, api.BackgroundFailed):
            self.err.print(f"[yellow]Could not start compiling MAX's kernels in the background "
                           f"({escape(event.reason)})[/]: the checks will compile what they need as they go, more "
                           "slowly.")
        else:
            super().__call__(event)


def start(
    directory: Annotated[Path | None, typer.Argument(
        metavar="DIR", show_default=False,
        help="Where to work (default: the workspace you are in, else ./gpt2-workspace).")] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Create a workspace, or resume one: copies the exercise skeletons into DIR/exercises/ (never
    overwriting a file you have) and shows where you are and what to do next. Safe to run again."""
    out, err = console(), console(stderr=True)
    view = StartView(out, err)
    report = api.start(directory, workspace=workspace, on_event=view)
    root = report.tutor.root
    if report.in_source:
        out.print(f"This folder holds the tutor's own source, so your workspace is [bold]{escape(str(root))}[/] "
                  "(the clone itself stays untouched).")
    if report.resumed:
        out.print(f"[bold]Welcome back.[/] Resuming your workspace at [bold]{escape(str(root))}[/].")
    else:
        out.print(f"[bold]Welcome to gpt2tutor![/] You will build GPT-2 (124M) in Modular MAX in {len(STEPS)} "
                  f"checked steps, then run it with OpenAI's real weights.\n"
                  f"Your workspace is [bold]{escape(str(root))}[/]; your files are in "
                  f"[bold]{escape(str(report.tutor.exercises))}[/].")
    if report.added and report.had_files:
        out.print(f"Added the missing exercise files: {', '.join(s.filename for s in report.added)}.")
    out.print()
    out.print(overview(report.tutor, report.state))
    out.print()
    out.print(next_step_hint(report.state))


def register(app: typer.Typer) -> None:
    app.command("start")(start)
