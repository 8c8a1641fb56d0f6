"""Plumbing every command shares: options and arguments, errors, consoles, confirmation.

Kept light on purpose: `gpt2tutor --help` imports this, so nothing here may import MAX, torch,
transformers, rich or the API at module level (the names module imports nothing).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from rich.console import Console

from ..names import PROG, TIMEOUT_ENV, WORKSPACE_ENV


def _left_to_the_api(ctx: typer.Context, param: typer.CallbackParam, value: Path | None) -> Path | None:
    """--workspace as given on the command line. Typer reads $GPT2TUTOR_WORKSPACE only to show it in --help
    and pass a value on: the API reads the variable itself (and `start DIR` takes DIR over it), so a value
    from the environment is left to the API, which says what is wrong with it."""
    source = ctx.get_parameter_source(param.name) if param.name else None
    return None if source is not None and source.name == "ENVIRONMENT" else value


# --- options and arguments, declared once --------------------------------------------------------

WorkspaceOption = Annotated[
    Path | None,
    typer.Option(
        "--workspace", "-w", metavar="DIR", show_default=False, envvar=WORKSPACE_ENV, callback=_left_to_the_api,
        help="The workspace folder. Default: the environment variable, else the nearest folder upward holding .gpt2tutor/.",
    ),
]
StepArgument = Annotated[
    str | None,
    typer.Argument(metavar="NN", show_default=False,
                   help="The step: 7, 07 or step_07. Default: your current step."),
]
RequiredStepArgument = Annotated[str, typer.Argument(metavar="NN", help="The step: 7, 07 or step_07.")]
ForceOption = Annotated[bool, typer.Option("--force", help="Open a step that is still locked.")]
YesOption = Annotated[
    bool, typer.Option("--yes", "-y", help="Don't ask for confirmation (required when stdin is not a terminal).")
]
TimeoutOption = Annotated[
    float | None,
    typer.Option("--timeout", metavar="SECONDS", min=1, show_default=False, envvar=TIMEOUT_ENV,
                 help="Time limit for one step's checks, in seconds (default 120)."),
]


# --- terminals ------------------------------------------------------------------------------------

def console(*, stderr: bool = False) -> Console:
    """A console for the current streams (made per call: tests swap sys.stdout). Honours NO_COLOR;
    plain text when the stream is not a terminal."""
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


def _isatty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def stdin_is_tty() -> bool:
    return _isatty(sys.stdin)


def stdout_is_tty() -> bool:
    return _isatty(sys.stdout)


def one_line(message: str) -> str:
    return " ".join(part.strip() for part in str(message).splitlines() if part.strip())


def print_error(message: str) -> None:
    """The one line every learner-fixable error becomes, on stderr."""
    sys.stderr.write(f"{PROG}: error: {one_line(message)}\n")
    sys.stderr.flush()


def confirm(question: str, *, yes: bool, what: str) -> None:
    """Asks `question` on the terminal; without one, `--yes` is required. Declining exits 1."""
    if yes:
        return
    if not stdin_is_tty():
        from ..api import TutorError

        raise TutorError(f"{what} needs confirmation and stdin is not a terminal: pass --yes")
    if not typer.confirm(question, default=False, err=True):
        console(stderr=True).print("Nothing done.")
        raise typer.Exit(1)
