"""The README's guarantees, end to end through the CLI: learner code can't crash the tutor or touch its state."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from test_cli import _spawn, _wait_for, cli, state_json, ws  # noqa: F401 - ws is a fixture

BROKEN_FILES = {
    "abort": (b"import os\nos.abort()\n", "crashed (SIGABRT)"),
    "not_utf8": (b"x = '\xff\xfe caf\xe9'\n", "is not UTF-8 text"),
    "syntax_error": (b"class GPT2MLP(:\n    pass\n", "syntax error at line 1"),
    "sys_exit": (b"import sys\nsys.exit(0)\n", "SystemExit"),
}


@pytest.mark.parametrize("kind", sorted(BROKEN_FILES))
def test_broken_learner_file_fails_the_check_and_touches_nothing(ws: Path, kind: str) -> None:
    content, expected = BROKEN_FILES[kind]
    exercise = ws / "exercises" / "step_04.py"
    exercise.write_bytes(content)
    state_before = state_json(ws)
    result = cli("check", "04", "--force", "-w", ws)
    assert result.exit_code == 1, result.output
    assert expected in result.output
    assert "Traceback (most recent call last)" not in result.output  # the learner's frames only, never ours
    assert exercise.read_bytes() == content
    assert state_json(ws) == state_before  # the step was not passed before, and is not now


def _children_of_checks(ws: Path) -> list[int]:
    """Check processes working on this workspace, found by their command line."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if "gpt2tutor.checking" in cmdline and str(ws) in cmdline and state != "Z":
            found.append(int(proc.name))
    return found


def test_ctrl_c_during_check_leaves_no_process_behind(ws: Path) -> None:
    (ws / "exercises" / "step_04.py").write_text("import time\ntime.sleep(120)\n")
    proc = _spawn("check", "04", "--force", cwd=ws)
    seen: list[str] = []
    _wait_for(proc, "Checking step 04", seen, time.monotonic() + 60)
    deadline = time.monotonic() + 30
    while not _children_of_checks(ws) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _children_of_checks(ws), "the check never started its child process"
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=30)
    assert proc.returncode == 130
    deadline = time.monotonic() + 5
    while _children_of_checks(ws) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _children_of_checks(ws)
