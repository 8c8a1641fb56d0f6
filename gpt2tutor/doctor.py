"""`doctor`: versions, the device, MAX's kernels and the background process, the workspace's health, the
HuggingFace cache and serving, each a Finding: what a bug report needs. It reports and changes nothing."""

from __future__ import annotations

import json
import os
import platform
import sys
from dataclasses import dataclass
from pathlib import Path

from . import MAX_PIN, __version__, graphs, maxenv, waiting
from .fullcache import full_cache_minutes
from .names import PROG
from .registry import STEPS
from .state import State
from .workspace import WorkspaceError, locate


@dataclass(frozen=True)
class Finding:
    """One row of `doctor`: `mark` is "ok", "warn" or "bad"."""

    mark: str
    what: str
    value: str


@dataclass
class DoctorReport:
    findings: list[Finding]
    background: dict  # {"running": bool, "task": str | None}

    @property
    def problems(self) -> list[Finding]:
        return [f for f in self.findings if f.mark == "bad"]

    def to_json(self) -> dict:
        return {"findings": [vars(f) for f in self.findings], "background": self.background,
                "problems": len(self.problems)}


GPT2_REPOS = ("models--openai-community--gpt2", "models--gpt2")


def _next_minor(pin: str) -> str:
    major, minor = pin.split(".")[:2]
    return f"{major}.{int(minor) + 1}"


def doctor(workspace: Path | str | None = None) -> DoctorReport:
    """Versions, the device, MAX's kernels and the background process, the workspace's health, the
    HuggingFace cache and serving: what a bug report needs."""
    rows: list[Finding] = []

    def row(mark: str, what: str, value: str) -> None:
        rows.append(Finding(mark, what, value))

    row("ok", "gpt2tutor", __version__)
    row("ok", "Python", f"{platform.python_version()} ({sys.executable})")
    system = f"{platform.system()} {platform.release()} · {platform.machine()}"
    row("ok", "Platform", system + (" (WSL)" if "microsoft" in platform.release().lower() else ""))
    version = maxenv.max_version()
    if version is None:
        row("bad", "MAX", f"not installed: pip install 'max>={MAX_PIN},<{_next_minor(MAX_PIN)}'")
    elif not maxenv.pin_matches(version):
        row("warn", "MAX", f"{version}, but the lessons and checks are written for {MAX_PIN}: "
                           f"pip install 'max>={MAX_PIN},<{_next_minor(MAX_PIN)}'")
    else:
        row("ok", "MAX", f"{version} (pinned {MAX_PIN})")
    if version is not None:
        rows.append(_device())
        fine, text = waiting.kernels_status()
        row("ok" if fine else "warn", "Kernel cache", f"{text} ({maxenv.cache_dir()})")
        other = waiting.another_installation()
        if other is not None:
            row("warn", "Background", f"the background process of this MAX cache belongs to another installation, "
                                      f"{other}: it compiles for both, but keeps check processes ready only for its "
                                      "own, so checks here start their own (slower) until it ends")
        if maxenv.full_cache_compiled():
            row("ok", "MAX's full cache", "compiled: every eager op MAX has")
        else:
            row("ok", "MAX's full cache", f"not compiled: ops only your own code uses compile on first use "
                                          f"(10-30 s each); `{PROG} doctor --warm-all` or `max warm-interpreter-cache` "
                                          f"compiles every op once (about {full_cache_minutes():.0f} min here)")
    rows.extend(_workspace_rows(Path(workspace) if workspace is not None else None))
    rows.extend(_graph_rows(Path(workspace) if workspace is not None else None))
    rows.append(_hf_cache())
    rows.append(_serving())
    return DoctorReport(rows, waiting.task_now())


def _device() -> Finding:
    try:
        from max import driver  # imported here: it takes a while, and --help must not pay for it

        count = driver.accelerator_count()
    except Exception as exc:
        return Finding("bad", "Device", f"MAX could not start: {type(exc).__name__}: {exc}")
    if count > 0:
        try:
            arch = f" ({driver.accelerator_architecture_name()})"
        except Exception:
            arch = ""
        return Finding("ok", "Device", f"CPU, and {count} GPU{'s' if count > 1 else ''}{arch} MAX can use: "
                                       f"`generate`, `serve` and `check --device gpu` run there")
    return Finding("ok", "Device", f"CPU ({os.cpu_count()} cores; no GPU MAX can use)")


def _graph_rows(explicit: Path | None) -> list[Finding]:
    """What the background compiled of the learner's cached model as their files are now, for each device."""


    try:
        exercises = locate(explicit).exercises
    except WorkspaceError:
        return []
    said = {"agrees": "compiled, and agrees with your eager model", "disagrees": "compiled, and disagrees with "
            "your eager model", "failed": "failed to compile"}
    found = []
    for device in graphs.DEVICES:
        graph_key = graphs.key(exercises, device)
        verdict = graphs.verdict(graph_key)
        if verdict is not None:
            mark = "ok" if verdict.agrees else "warn"
            found.append(Finding(mark, f"Your model ({device.upper()})", said.get(verdict.state, verdict.state)
                                 + (f" in {verdict.compile_s:.0f} s" if verdict.compile_s else "")))
        elif graphs.job_path(graph_key).exists():
            found.append(Finding("ok", f"Your model ({device.upper()})", "queued for the background compile"))
    return found


def _workspace_rows(explicit: Path | None) -> list[Finding]:
    try:
        ws = locate(explicit)
    except WorkspaceError as exc:
        return [Finding("warn", "Workspace", str(exc))]
    rows = []
    if not ws.exercises.is_dir():
        rows.append(Finding("bad", "Workspace", f"{ws.root}: the exercises folder is missing "
                                                f"(`{PROG} start {ws.root}` puts it back)"))
    else:
        missing = [s.filename for s in STEPS if not ws.exercise(s).exists()]
        writable = os.access(ws.meta, os.W_OK) and os.access(ws.exercises, os.W_OK)
        note = "" if not missing else f"; missing: {', '.join(missing)} (`{PROG} reset NN` restores one)"
        mark = "ok" if writable and not missing else ("bad" if not writable else "warn")
        rows.append(Finding(mark, "Workspace", f"{ws.root}" + ("" if writable else " (read-only!)") + note))
    # Read the state without load(): doctor reports, it does not back up or rebuild.
    try:
        raw = ws.state_file.read_bytes()
    except FileNotFoundError:
        rows.append(Finding("ok", "Progress", "nothing recorded yet"))
        return rows
    except OSError as exc:
        rows.append(Finding("bad", "Progress", f"cannot read {ws.state_file}: {exc.strerror}"))
        return rows
    try:
        state = State.from_json(json.loads(raw.decode("utf-8")))
    except (UnicodeDecodeError, ValueError) as exc:
        reason = "not valid JSON" if isinstance(exc, (UnicodeDecodeError, json.JSONDecodeError)) else str(exc)
        rows.append(Finding("warn", "Progress", f"{ws.state_file} is damaged ({reason}): the next command keeps a "
                                                "copy and rebuilds your progress by re-checking"))
        return rows
    passed = state.passed_count()
    changed = [s.id for s in STEPS if state.status(s, ws) == "changed"]
    note = f"; changed since they passed: {', '.join(changed)}" if changed else ""
    rows.append(Finding("ok", "Progress", f"{passed} of {len(STEPS)} steps passed, current step {state.current.id}{note}"))
    return rows


def _hf_cache() -> Finding:
    try:
        from huggingface_hub import constants  # imported here: keeps --help light
    except ImportError:
        return Finding("warn", "HF weights", "huggingface_hub is not installed (needed by `gpt2tutor generate`)")
    cache = Path(constants.HF_HUB_CACHE)
    have = [name for name in GPT2_REPOS if (cache / name).is_dir()]
    status = "GPT-2 weights are cached there" if have else "GPT-2 weights not downloaded yet (about 550 MB)"
    return Finding("ok", "HF weights", f"{cache} — {status}")


def _serving() -> Finding:
    from .serving.launch import INSTALL_COMMAND, missing_serving_modules

    missing = missing_serving_modules()
    if missing:
        return Finding("warn", "Serving", f"not installed ({', '.join(missing)} missing), so `{PROG} serve` can't "
                                          f"run: {INSTALL_COMMAND}")
    return Finding("ok", "Serving", f"installed: `{PROG} serve` runs max serve")

