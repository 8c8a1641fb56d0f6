"""The README's guarantees, end to end through the CLI: learner code can't crash the tutor or touch its state."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_cli import cli, state_json, ws  # noqa: F401 - ws is a fixture

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
