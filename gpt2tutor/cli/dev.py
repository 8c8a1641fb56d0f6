"""`gpt2tutor dev check [NN ...]`: for maintainers, proof that the course holds together (hidden from the
learner's help): every skeleton fails its check, every reference passes, every lesson and hint has text,
every name of a contract exists. Exit 0 when all holds, 1 with the problems listed."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.markup import escape

from .. import api
from .common import TimeoutOption, console

dev = typer.Typer(help="Maintainers' commands.", no_args_is_help=True)


@dev.command("check")
def check_course(
    steps: Annotated[list[str] | None, typer.Argument(metavar="[NN]...", show_default=False,
                                                         help="The steps to prove (default: the whole course).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print only JSON: {ok, steps, problems, skeletons, "
                                                         "references}.")] = False,
    timeout: TimeoutOption = None,
) -> None:
    """Prove the course: every skeleton fails its check, every reference passes, every lesson and hint has
    text, every contract name exists in its reference."""
    chosen = [api.step(s) for s in steps] if steps else None
    err = console(stderr=True)
    def show(event) -> None:
        if isinstance(event, api.StepSettled):
            err.print(f"  {'[green]✓[/]' if event.passed else '[red]✗[/]'} step {event.step} · {escape(event.title)}")

    report = api.check_course(chosen, timeout=timeout, on_event=None if as_json else show)
    if as_json:
        json.dump(report.to_json(), sys.stdout)
        sys.stdout.write("\n")
    else:
        out = console()
        for problem in report.problems:
            where = f"step {problem.step}: " if problem.step else ""
            out.print(f"[red]✗[/] {where}{escape(problem.what)}")
        for note in report.notes:
            out.print(f"[yellow]•[/] {escape(note)}")
        if report.ok:
            out.print(f"[green]✓ the course holds[/]: {len(report.steps)} steps, every skeleton fails its check and "
                      "every reference passes")
        else:
            out.print(f"\n[red]{len(report.problems)} problem{'s' if len(report.problems) != 1 else ''}[/] in the course")
    raise typer.Exit(0 if report.ok else 1)


def register(app: typer.Typer) -> None:
    app.add_typer(dev, name="dev", hidden=True)
