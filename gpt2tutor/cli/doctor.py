"""`gpt2tutor doctor`: what the tutor runs on, and whether it is ready."""

from __future__ import annotations

import json
import sys
import time
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from .. import api
from .common import WorkspaceOption, console
from .render import cores_text

MARKS = {"ok": "[green]✓[/]", "warn": "[yellow]![/]", "bad": "[red]✗[/]"}


def doctor(
    workspace: WorkspaceOption = None,
    warm_all: Annotated[bool, typer.Option(
        "--warm-all", help="First run `max warm-interpreter-cache`: every eager op MAX has, compiled once per "
                           "machine (about 8 min on 2 cores). The checks need only their own, which compile "
                           "in the background by themselves.")] = False,
    as_json: Annotated[bool, typer.Option(
        "--json", help='Print only JSON, for bug reports and scripts: {"findings": [{"mark", "what", "value"}], '
                       '"background": {"running", "task"}, "problems"}.')] = False,
) -> None:
    """Show Python, MAX and platform versions, the device, whether MAX's kernels are compiled, the
    workspace's health and where HuggingFace weights are cached. Exits 1 when something needs fixing."""
    if warm_all and not compile_full_cache(console(stderr=True)):
        raise typer.Exit(1)
    report = api.doctor(workspace)
    if as_json:
        json.dump(report.to_json(), sys.stdout, indent=2)
        sys.stdout.write("\n")
        raise typer.Exit(1 if report.problems else 0)
    table = Table(show_header=False, show_edge=False, box=None, pad_edge=False)
    table.add_column(no_wrap=True)
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    for f in report.findings:
        table.add_row(MARKS[f.mark], f.what, escape(f.value))
    out = console()
    out.print(table)
    bad = report.problems
    if bad:
        out.print(f"\n[red]{len(bad)} problem{'s' if len(bad) > 1 else ''} to fix.[/]")
        raise typer.Exit(1)
    out.print("\n[green]Ready.[/]" if all(f.mark == "ok" for f in report.findings) else "\nReady, with the warnings above.")


def compile_full_cache(ui) -> bool:
    """`max warm-interpreter-cache` with a progress bar; returns whether it succeeded."""
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    families = api.FAMILIES
    ui.print(f"Running `max warm-interpreter-cache`: every eager op MAX has, about {api.full_cache_minutes():.0f} min "
             f"with {cores_text()}, once per machine.")
    progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                        TextColumn("{task.completed:.0f}/~{task.total:.0f} op families"), TimeElapsedColumn(),
                        TextColumn("{task.fields[left]}"), console=ui, transient=True)
    estimate, started, done = api.full_cache_minutes() * 60, time.monotonic(), 0

    def on_line(line: str) -> None:
        nonlocal done
        if line.startswith(("✓", "✔")):
            done += 1
            elapsed = time.monotonic() - started
            left = elapsed / done * max(families - done, 0)
            family = line.lstrip("✓✔ ").split(" (")[0]
            progress.update(task, completed=done, total=max(families, done), left=_left(left),
                            description=f"Compiled {family}")
            progress.console.print(f"  {line}", markup=False, style="dim")

    try:
        with progress:
            task = progress.add_task("Compiling MAX kernels", total=families, left=_left(estimate))
            code, tail = api.compile_full_cache(on_line)
    except OSError as exc:
        ui.print(f"[yellow]Could not run `max warm-interpreter-cache` ({escape(exc.strerror or str(exc))}).[/]")
        return False
    if code != 0:
        ui.print(f"[yellow]`max warm-interpreter-cache` stopped with exit code {code}.[/]")
        if tail:
            ui.print(tail, markup=False)
        return False
    ui.print("[green]MAX's kernels are ready.[/]")
    return True


def _left(seconds: float) -> str:
    if seconds <= 0:
        return "almost done"
    return f"~{max(1, round(seconds / 60))} min left"


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor)
