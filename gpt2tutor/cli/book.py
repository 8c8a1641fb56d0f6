"""`gpt2tutor book`: every lesson as an offline HTML book, with your progress, opened in your browser."""

from __future__ import annotations

import webbrowser
from pathlib import Path
from typing import Annotated

import typer

from .. import api
from .common import WorkspaceOption


def book(
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", metavar="DIR", show_default=False,
        help="The folder to write the book into (made if missing). Default: .gpt2tutor/book/ in your workspace.")] = None,
    no_open: Annotated[bool, typer.Option(
        "--no-open", help="Only build the book and print its path; don't open a browser.")] = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Build every lesson into one HTML book (your progress, search, folded hints; works offline from
    file://) and open it in your browser. The last line printed is the path of its index.html."""
    index = api.open(workspace).book(out)
    typer.echo(f"Built the book: {len(api.STEPS) + len(api.LESSONS)} lessons and the contents, in {index.parent}")
    if not no_open and not webbrowser.open(index.as_uri()):
        typer.echo("No browser could be started here: open this file in one.")
    typer.echo(str(index))


def register(app: typer.Typer) -> None:
    app.command("book")(book)
