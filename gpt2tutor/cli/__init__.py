"""The `gpt2tutor` command line: one module per command, each exposing `register(app)`.

Errors the learner can fix are one line on stderr and exit 2; Ctrl-C exits 130; anything else
unexpected is one line asking for a bug report (GPT2TUTOR_DEBUG=1 shows the traceback).
Module-level imports stay light: `gpt2tutor --help` must not import MAX, torch or transformers.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Sequence
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from ..api import __version__
from .common import PROG, CliError, print_error

# The command modules, in the order `--help` lists them. Importing them sets `list` and `open` as
# attributes of this package, shadowing the builtins in this file: don't use those two names here.
COMMANDS = ["start", "list", "show", "open", "check", "hint", "solution", "reset", "watch", "doctor", "generate", "serve", "book",
            "dev"]

DEBUG_ENV = "GPT2TUTOR_DEBUG"
BUG_REPORT = "this is a bug in gpt2tutor: please report it with the command you ran"


def _click_exception(name: str) -> type[Exception]:
    """Click's exception classes as this Typer uses them (newer Typers vendor their own Click)."""
    for cls in typer.BadParameter.__mro__:
        if cls.__name__ == name:
            return cls
    raise RuntimeError(f"typer has no {name}")


_ClickException = _click_exception("ClickException")
_UsageError = _click_exception("UsageError")


def _no_type_for_flags() -> None:
    """Typer 0.29 prints `<bool>` beside every on/off flag in --help; a flag takes no value, so show none."""
    option = typer.core.TyperOption
    shown = option.display_type_rich

    def display_type_rich(self, ctx):
        return None if self.is_flag and self.metavar is None else shown(self, ctx)

    option.display_type_rich = display_type_rich


_no_type_for_flags()


def run_guarded(invoke: Callable[[], Any]) -> int:
    """Runs the command line, turning every way out into an exit code (and at most one line on stderr)."""
    try:
        rv = invoke()
        return rv if isinstance(rv, int) else 0
    except CliError as exc:
        print_error(exc.message)
        return exc.code
    except _UsageError as exc:
        ctx = getattr(exc, "ctx", None)
        if type(exc).__name__ == "NoArgsIsHelpError":
            return 0  # Typer has printed the help already
        where = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
        print_error(exc.format_message().rstrip(".") + where)
        return 2
    except _ClickException as exc:
        print_error(exc.format_message())
        return 2
    except (typer.Abort, KeyboardInterrupt, EOFError):
        sys.stderr.write("\nInterrupted.\n")
        return 130
    except typer.Exit as exc:
        return exc.exit_code
    except BrokenPipeError:  # e.g. `gpt2tutor list | head -1`
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except Exception as exc:
        if os.environ.get(DEBUG_ENV):
            raise
        print_error(f"internal error ({type(exc).__name__}: {exc}) — {BUG_REPORT} "
                    f"(set {DEBUG_ENV}=1 to see the traceback)")
        return 1


class TutorGroup(TyperGroup):
    """Runs every invocation (the console script and tests' CliRunner alike) through run_guarded."""

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True, **extra: Any) -> Any:
        code = run_guarded(lambda: super(TutorGroup, self).main(
            args=args, prog_name=prog_name or PROG, complete_var=complete_var, standalone_mode=False, **extra))
        if standalone_mode:
            sys.exit(code)
        return code


def _version(value: bool) -> None:
    if value:
        typer.echo(f"{PROG} {__version__}")
        raise typer.Exit(0)


def build_app(commands: Sequence[str] = COMMANDS) -> typer.Typer:
    app = typer.Typer(
        name=PROG,
        cls=TutorGroup,
        help="Build GPT-2 from scratch in Modular MAX, one checked step at a time.\n\n"
             "Start with `gpt2tutor start`, then `show`, edit, `check` — and `hint` when stuck.",
        no_args_is_help=True,
        add_completion=True,
        pretty_exceptions_enable=False,
        rich_markup_mode="markdown",
        context_settings={"help_option_names": ["-h", "--help"]},
    )

    @app.callback()
    def _root(
        version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                              help="Show the version and exit.")] = False,
    ) -> None:
        """Build GPT-2 from scratch in Modular MAX, one checked step at a time."""

    for name in commands:
        importlib.import_module(f"{__name__}.{name}").register(app)
    return app


app = build_app()


def main(argv: Sequence[str] | None = None) -> None:
    """The console script: `gpt2tutor = gpt2tutor.cli:main`."""
    command = typer.main.get_command(app)
    command.main(args=[*argv] if argv is not None else None, prog_name=PROG)
