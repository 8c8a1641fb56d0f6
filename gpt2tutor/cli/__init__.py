"""The `gpt2tutor` command line: one module per command, each exposing `register(app)`.

Errors the learner can fix are one line on stderr and exit 2; Ctrl-C exits 130; anything else
unexpected is one line asking for a bug report (GPT2TUTOR_DEBUG=1 shows the traceback).

A command's module is imported when that command runs (or its --help is asked for), never before:
`gpt2tutor --help` is drawn from the table below with click's plain formatter, so it loads neither
the API, rich nor any command (tests/test_front_door.py holds it within 2x of `import typer`).
`gpt2tutor` alone shows where the learner is and what to do next.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Sequence
from difflib import get_close_matches
from typing import Annotated, Any

import typer
from typer.core import TyperArgument, TyperGroup, TyperOption

from ..names import DEBUG_ENV, KERNELS_ENV, SEED_ENV, TIMEOUT_ENV, WORKSPACE_ENV
from .common import PROG, print_error

# The command modules. A module may define several commands (generate: generate and attention).
COMMANDS = ["start", "list", "show", "open", "check", "hint", "solution", "reset", "watch", "doctor", "generate", "serve", "book",
            "dev"]

# The root help, in its order: (panel, [(command, module, one line)]). tests/test_front_door.py checks that
# it names every command the modules register, each once, and the right module.
PANELS: list[tuple[str, list[tuple[str, str, str]]]] = [
    ("Learning", [
        ("start", "start", "Create your workspace, or resume it, and see where you are."),
        ("show", "show", "Read a step's lesson (default: your current step)."),
        ("open", "open", "Open a step's exercise file in $VISUAL / $EDITOR."),
        ("check", "check", "Check a step: your code against the reference, on random weights."),
        ("watch", "watch", "Re-check a step every time you save it (h: a hint)."),
        ("hint", "hint", "The next hint: a nudge first, a near-solution last."),
        ("list", "list", "Every step with its status and the hints you used."),
        ("solution", "solution", "The reference solution of a step (asks first, until you pass)."),
        ("reset", "reset", "Put a step's skeleton back (your file is backed up first)."),
        ("book", "book", "Every lesson as one offline HTML book, opened in your browser."),
    ]),
    ("Your model", [
        ("generate", "generate", "Your GPT-2 writing text, with OpenAI's weights."),
        ("attention", "generate", "One attention head's weights for a prompt, as a heatmap."),
        ("serve", "serve", "Your GPT-2 behind MAX's OpenAI-compatible server, on 127.0.0.1."),
    ]),
    ("Setup", [
        ("doctor", "doctor", "Versions, MAX's kernels, workspace health (--json: for bugs)."),
    ]),
]
HIDDEN = {"dev": "dev"}  # command -> module, not in the help (maintainers' commands)
MODULE_OF = {name: module for _, rows in PANELS for name, module, _ in rows} | HIDDEN
PANEL_OF = {name: panel for panel, rows in PANELS for name, _, _ in rows}

EXAMPLES = [
    (f"{PROG} start", "make your workspace, see the first step"),
    (f"{PROG} show", "the lesson of your current step"),
    (f"{PROG} watch", "re-check on every save (h: a hint)"),
    (f"{PROG} check", "check your current step once"),
    (f'{PROG} generate "Hello"', "your GPT-2 writing, once the steps up to generation pass"),
    (f"{PROG} check --help", "a command's options and variables"),
]
ENVIRONMENT = [
    (WORKSPACE_ENV, "the workspace, when --workspace is not given"),
    (TIMEOUT_ENV, "seconds one step's checks may take (default 120)"),
    (SEED_ENV, "fixes the checks' random inputs (default: new)"),
    (f"{KERNELS_ENV}=0", "no background compile of MAX's kernels"),
    ("NO_COLOR", "no colours"),
]

BUG_REPORT = "this is a bug in gpt2tutor: please report it with the command you ran"
RICH_MARKUP = "markdown"  # how the commands' own --help reads their docstrings


def _click_exception(name: str) -> type[Exception]:
    """Click's exception classes as this Typer uses them (newer Typers vendor their own Click)."""
    for cls in typer.BadParameter.__mro__:
        if cls.__name__ == name:
            return cls
    raise RuntimeError(f"typer has no {name}")


_ClickException = _click_exception("ClickException")
_UsageError = _click_exception("UsageError")


# --- what --help shows beside a parameter ---------------------------------------------------------
# Typer 0.29 prints `<bool>` beside a flag, `NN <str>` for an argument that has a metavar, `{NN}` in the usage
# line for a required one and `<int range>` for a bare option. Shown instead: nothing for a flag, the metavar
# alone, `NN` (required) or `[NN]` (optional), and click's own names (INTEGER, TEXT, PATH, [cpu|gpu]).

_TYPE_NAMES = {"int": "INTEGER", "float": "FLOAT", "str": "TEXT", "path": "PATH", "file": "PATH",
               "directory": "PATH", "bool": "BOOLEAN"}


def _type_name(param, ctx) -> str:
    label = param.display_type(ctx).strip("<>")
    if "|" in label:
        return f"[{label}]"
    label = label.removesuffix(" range")
    return _TYPE_NAMES.get(label, label.upper())


def _option_type(self, ctx):
    if self.is_flag and self.metavar is None:
        return None
    return self.metavar if self.metavar is not None else _type_name(self, ctx)


def _argument_type(self, ctx):
    return None if self.metavar is not None else _type_name(self, ctx)


def _argument_usage(self) -> str:
    name = self.display_name_raw
    if self.metavar is None and self.nargs != 1:
        name += "..."
    return name if self.required or name.startswith("[") else f"[{name}]"


TyperOption.display_type_rich = _option_type
TyperArgument.display_type_rich = _argument_type
TyperArgument._usage_display_name = _argument_usage


# --- every way out ----------------------------------------------------------------------------------

def run_guarded(invoke: Callable[[], Any], *, exiting: bool = False) -> int:
    """Runs the command line, turning every way out into an exit code (and at most one line on stderr).
    `exiting`: the process ends with this command (the console script), so a Ctrl-C may end it at once."""
    try:
        rv = invoke()
        return rv if isinstance(rv, int) else 0
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
        return _interrupted(exiting)
    except typer.Exit as exc:
        return exc.exit_code
    except BrokenPipeError:  # e.g. `gpt2tutor list | head -1`
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except Exception as exc:
        from ..api import TutorError

        if isinstance(exc, TutorError):
            print_error(exc.message)
            return exc.code
        if os.environ.get(DEBUG_ENV):
            raise
        print_error(f"internal error ({type(exc).__name__}: {exc}) — {BUG_REPORT} "
                    f"(set {DEBUG_ENV}=1 to see the traceback)")
        return 1


def _interrupted(exiting: bool) -> int:
    sys.stderr.write("\nInterrupted.\n")
    api = sys.modules.get("gpt2tutor.api")  # MAX is loaded only through it: not imported, nothing to guard
    if exiting and api is not None and api.max_loaded():
        _exit_now(130)
    return 130


def _exit_now(code: int) -> None:
    """Ends the process without finalizing Python, from inside the `except` that caught a Ctrl-C (whose
    traceback still holds the interrupted frames). A Ctrl-C can land while MAX compiles on a native thread
    of its own; Python's shutdown then frees what owns that thread, and the process aborts ("terminate
    called without an active exception", SIGABRT) instead of exiting 130. Every `finally` has run by now."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


# --- the group: commands loaded when used --------------------------------------------------------------

class TutorGroup(TyperGroup):
    """The root command. Runs every invocation (the console script and tests' CliRunner alike) through
    run_guarded; imports a command's module only when the command is looked up; draws the root --help from
    PANELS without importing any of them."""

    modules: Sequence[str] = COMMANDS  # the command modules this app offers (build_app sets it)

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True, console_script: bool = False,
             **extra: Any) -> Any:
        code = run_guarded(lambda: super(TutorGroup, self).main(
            args=args, prog_name=prog_name or PROG, complete_var=complete_var, standalone_mode=False, **extra),
            exiting=console_script)
        if standalone_mode:
            sys.exit(code)
        return code

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt as exc:  # Typer's main would return 130 for it, and run_guarded never know
            raise typer.Abort() from exc

    def list_commands(self, ctx) -> list[str]:
        offered = [name for name, module in MODULE_OF.items() if module in self.modules]
        return [*offered, *(name for name in super().list_commands(ctx) if name not in offered)]

    def get_command(self, ctx, name: str):
        if name not in self.commands and MODULE_OF.get(name) in self.modules:
            self._load(MODULE_OF[name])
        return super().get_command(ctx, name)

    def _load(self, module: str) -> None:
        sub = typer.Typer(rich_markup_mode=RICH_MARKUP, pretty_exceptions_enable=False, add_completion=False)
        importlib.import_module(f"{__name__}.{module}").register(sub)
        for name, command in typer.main.get_group(sub).commands.items():
            command.rich_help_panel = PANEL_OF.get(name)
            self.add_command(command, name)

    def resolve_command(self, ctx, args):
        try:
            return self._click_resolve_command(ctx, args)
        except _UsageError as exc:
            matches = get_close_matches(args[0], [n for n in self.list_commands(ctx) if n not in HIDDEN]) if args else []
            if matches:
                exc.message = f"{exc.message.rstrip('.')}. Did you mean {', '.join(repr(m) for m in matches)}?"
            raise

    def format_help(self, ctx, formatter) -> None:
        """The root help, plain: what it is, the commands by group, the options, examples, the environment."""
        self.format_usage(ctx, formatter)
        self.format_help_text(ctx, formatter)
        width = max(len(name) for _, rows in PANELS for name, _, _ in rows)
        for panel, rows in PANELS:
            shown = [(name.ljust(width), line) for name, module, line in rows if module in self.modules]
            if shown:
                with formatter.section(panel):
                    formatter.write_dl(shown)
        self.format_options(ctx, formatter)  # the group's own options (its commands are listed above)
        with formatter.section("Examples"):
            formatter.write_dl(EXAMPLES)
        with formatter.section("Environment"):
            formatter.write_dl(ENVIRONMENT)

    def format_options(self, ctx, formatter) -> None:
        rows = [record for param in self.get_params(ctx) if (record := param.get_help_record(ctx)) is not None]
        if rows:
            with formatter.section("Options"):
                formatter.write_dl(rows)


def _version(value: bool) -> None:
    if value:
        from ..api import __version__

        typer.echo(f"{PROG} {__version__}")
        raise typer.Exit(0)


NO_WORKSPACE = (f"No workspace here yet: `{PROG} start` makes one (./gpt2-workspace) and shows the first step. "
                f"Every command: `{PROG} --help`.")


def where_you_are() -> None:
    """`gpt2tutor` alone: the steps and the next thing to do in the workspace found (as `list` shows them),
    else how to make one."""
    from .. import api
    from .common import console
    from .render import Renderer, next_step_hint, overview

    tutor = api.find()
    if tutor is None:
        typer.echo(NO_WORKSPACE)
        return
    state = tutor.load_and_repair_state(on_event=Renderer(console(stderr=True)))
    out = console()
    out.print(overview(tutor, state))
    out.print()
    out.print(next_step_hint(state))
    out.print(f"[dim]Every command: {PROG} --help[/]")


def build_app(commands: Sequence[str] = COMMANDS) -> typer.Typer:
    """The command line offering the commands of these modules (tests build one with a single command)."""
    group = type("TutorGroup", (TutorGroup,), {"modules": tuple(commands)})
    app = typer.Typer(
        name=PROG,
        cls=group,
        help="Build GPT-2 (124M) from scratch in Modular MAX, one checked step at a time: read a lesson "
             f"(`{PROG} show`), edit your file, check it (`{PROG} check`, or `{PROG} watch`), ask for a hint "
             f"when stuck (`{PROG} hint`). Run without a command, it shows where you are.",
        invoke_without_command=True,
        no_args_is_help=False,
        add_completion=True,
        pretty_exceptions_enable=False,
        rich_markup_mode=RICH_MARKUP,
        context_settings={"help_option_names": ["-h", "--help"]},
    )

    @app.callback()
    def _root(
        ctx: typer.Context,
        version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                              help="Show the version and exit.")] = False,
    ) -> None:
        """Build GPT-2 from scratch in Modular MAX, one checked step at a time."""
        if ctx.invoked_subcommand is None and not ctx.resilient_parsing:
            where_you_are()

    return app


app = build_app()


def main(argv: Sequence[str] | None = None) -> None:
    """The console script: `gpt2tutor = gpt2tutor.cli:main`."""
    command = typer.main.get_command(app)
    command.main(args=[*argv] if argv is not None else None, prog_name=PROG, console_script=True)
