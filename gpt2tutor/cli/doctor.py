"""`gpt2tutor doctor`: what the tutor runs on, and whether it is ready."""

from __future__ import annotations

import json
import os
import platform
import sys
from pathlib import Path

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from .. import MAX_PIN, __version__, maxenv
from ..curriculum import STEPS
from ..state import State
from ..workspace import WorkspaceError, locate
from . import warmup
from .common import PROG, WorkspaceOption, console

OK, WARN, BAD = "[green]✓[/]", "[yellow]![/]", "[red]✗[/]"
GPT2_REPOS = ("models--openai-community--gpt2", "models--gpt2")


def doctor(
    workspace: WorkspaceOption = None,
    warm_all: Annotated[bool, typer.Option(
        "--warm-all", help="First run `max warm-interpreter-cache`: every eager op MAX has, compiled once per "
                           "machine (about 8 min on 2 cores). The checks need only their own, which compile "
                           "in the background by themselves.")] = False,
) -> None:
    """Show Python, MAX and platform versions, the device, whether MAX's kernels are compiled, the
    workspace's health and where HuggingFace weights are cached. Exits 1 when something needs fixing."""
    if warm_all and not warmup.full_warm(console(stderr=True)):
        raise typer.Exit(1)
    rows: list[tuple[str, str, str]] = []

    def row(mark: str, what: str, value: str) -> None:
        rows.append((mark, what, value))

    row(OK, "gpt2tutor", __version__)
    row(OK, "Python", f"{platform.python_version()} ({escape(sys.executable)})")
    system = f"{platform.system()} {platform.release()} · {platform.machine()}"
    row(OK, "Platform", escape(system) + (" (WSL)" if "microsoft" in platform.release().lower() else ""))

    version = maxenv.max_version()
    if version is None:
        row(BAD, "MAX", f"not installed: pip install 'max>={MAX_PIN},<{_next_minor(MAX_PIN)}'")
    elif not maxenv.pin_matches(version):
        row(WARN, "MAX", f"{version}, but the lessons and checks are written for {MAX_PIN}: "
                         f"pip install 'max>={MAX_PIN},<{_next_minor(MAX_PIN)}'")
    else:
        row(OK, "MAX", f"{version} (pinned {MAX_PIN})")

    if version is not None:
        row(*_device())
        mark, text = warmup.status_line()
        row(OK if mark == "ok" else WARN, "Kernel cache", escape(f"{text} ({maxenv.cache_dir()})"))
        if maxenv.cache_is_warm():
            row(OK, "MAX's full cache", "warm: every eager op MAX has is compiled")
        else:
            row(OK, "MAX's full cache", escape(
                f"not warmed: ops only your own code uses compile on first use "
                f"(10-30 s each); `{PROG} doctor --warm-all` or `max warm-interpreter-cache` compiles every "
                f"op once (about {warmup.estimate_minutes():.0f} min here)"))

    rows.extend(_workspace_rows(workspace))
    rows.append(_hf_cache())
    rows.append(_serving())

    table = Table(show_header=False, show_edge=False, box=None, pad_edge=False)
    table.add_column(no_wrap=True)
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    for r in rows:
        table.add_row(*r)
    out = console()
    out.print(table)
    bad = [r for r in rows if r[0] == BAD]
    if bad:
        out.print(f"\n[red]{len(bad)} problem{'s' if len(bad) > 1 else ''} to fix.[/]")
        raise typer.Exit(1)
    out.print("\n[green]Ready.[/]" if all(r[0] == OK for r in rows) else "\nReady, with the warnings above.")


def _serving() -> tuple[str, str, str]:
    from ..serving.launch import INSTALL_COMMAND, missing_serving_modules

    missing = missing_serving_modules()
    if missing:
        return WARN, "Serving", escape(f"not installed ({', '.join(missing)} missing), so `{PROG} serve` can't run: "
                                       f"{INSTALL_COMMAND}")
    return OK, "Serving", f"installed: `{PROG} serve` runs max serve"


def _next_minor(pin: str) -> str:
    major, minor = pin.split(".")[:2]
    return f"{major}.{int(minor) + 1}"


def _device() -> tuple[str, str, str]:
    try:
        from max import driver  # imported here: it takes a while, and --help must not pay for it

        count = driver.accelerator_count()
    except Exception as exc:  # noqa: BLE001 - report whatever MAX says
        return BAD, "Device", escape(f"MAX could not start: {type(exc).__name__}: {exc}")
    if count > 0:
        return OK, "Device", f"CPU, and {count} GPU{'s' if count > 1 else ''} MAX can use"
    return OK, "Device", f"CPU ({os.cpu_count()} cores; no GPU MAX can use)"


def _workspace_rows(explicit: Path | None) -> list[tuple[str, str, str]]:
    try:
        ws = locate(explicit)
    except WorkspaceError as exc:
        return [(WARN, "Workspace", escape(str(exc)))]
    rows = []
    if not ws.exercises.is_dir():
        rows.append((BAD, "Workspace", escape(f"{ws.root}: the exercises folder is missing "
                                               f"(`{PROG} start {ws.root}` puts it back)")))
    else:
        missing = [s.filename for s in STEPS if not ws.exercise(s).exists()]
        writable = os.access(ws.meta, os.W_OK) and os.access(ws.exercises, os.W_OK)
        note = "" if not missing else f"; missing: {', '.join(missing)} (`{PROG} reset NN` restores one)"
        mark = OK if writable and not missing else (BAD if not writable else WARN)
        rows.append((mark, "Workspace", escape(f"{ws.root}" + ("" if writable else " (read-only!)") + note)))
    # Read the state without load(): doctor reports, it does not back up or rebuild.
    try:
        raw = ws.state_file.read_bytes()
    except FileNotFoundError:
        rows.append((OK, "Progress", "nothing recorded yet"))
        return rows
    except OSError as exc:
        rows.append((BAD, "Progress", escape(f"cannot read {ws.state_file}: {exc.strerror}")))
        return rows
    try:
        state = State.from_json(json.loads(raw.decode("utf-8")))
    except (UnicodeDecodeError, ValueError) as exc:
        reason = "not valid JSON" if isinstance(exc, (UnicodeDecodeError, json.JSONDecodeError)) else str(exc)
        rows.append((WARN, "Progress", escape(f"{ws.state_file} is damaged ({reason}): the next command keeps a "
                                              "copy and rebuilds your progress by re-checking")))
        return rows
    passed = state.passed_count()
    changed = [s.id for s in STEPS if state.status(s, ws) == "changed"]
    note = f"; changed since they passed: {', '.join(changed)}" if changed else ""
    rows.append((OK, "Progress", f"{passed} of {len(STEPS)} steps passed, current step {state.current.id}{note}"))
    return rows


def _hf_cache() -> tuple[str, str, str]:
    try:
        from huggingface_hub import constants  # imported here: keeps --help light
    except ImportError:
        return WARN, "HF weights", "huggingface_hub is not installed (needed by `gpt2tutor generate`)"
    cache = Path(constants.HF_HUB_CACHE)
    have = [name for name in GPT2_REPOS if (cache / name).is_dir()]
    status = "GPT-2 weights are cached there" if have else "GPT-2 weights not downloaded yet (about 550 MB)"
    return OK, "HF weights", escape(f"{cache} — {status}")


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor)
