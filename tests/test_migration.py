"""A workspace written by the 12-step tutor (schema 1, kept in tests/fixtures) opens with nothing lost.

The fixture was made by gpt2tutor at 4702f37: reference solutions of 01-11 passed with `check --all`,
hints taken for 03 and 05, and step_12.py (generation, then the last step) holding a learner's edits.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gpt2tutor.cli import app
from gpt2tutor.registry import get_step

FIXTURE = Path(__file__).parent / "fixtures" / "schema1_workspace"
ENV = {"GPT2TUTOR_WORKSPACE": None, "COLUMNS": "200", "NO_COLOR": "1", "GPT2TUTOR_KERNELS": "0"}


def cli(*args):
    return CliRunner().invoke(app, [str(a) for a in args], env=ENV)


@pytest.fixture
def old_ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    shutil.copytree(FIXTURE, root)
    return root


def test_fixture_is_schema_1() -> None:
    state = json.loads((FIXTURE / ".gpt2tutor" / "state.json").read_text())
    assert state["schema"] == 1 and set(state["steps"]) == {f"{n:02d}" for n in range(1, 13)}
    assert not (FIXTURE / "exercises" / "step_13.py").exists()


def test_schema_1_workspace_migrates_with_nothing_lost(old_ws: Path) -> None:
    learner_generation = (FIXTURE / "exercises" / "step_12.py").read_bytes()
    old_files = {p.name: p.read_bytes() for p in (FIXTURE / "exercises").glob("step_*.py")}

    result = cli("list", "--json", "-w", old_ws)
    assert result.exit_code == 0, result.output
    steps = {s["step"]: s for s in json.loads(result.stdout)["steps"]}

    # the generation file moved, unchanged, and a copy of it and of the old state were kept
    assert (old_ws / "exercises" / "step_14.py").read_bytes() == learner_generation
    backups = {p.name.split(".schema1-")[0]: p.read_bytes() for p in (old_ws / ".gpt2tutor" / "backups").iterdir()}
    assert backups["step_12.py"] == learner_generation
    assert json.loads(backups["state.json"])["schema"] == 1
    # 01-11 are untouched and still pass, hints kept; the new steps are the skeletons
    for name, content in old_files.items():
        if name != "step_12.py":
            assert (old_ws / "exercises" / name).read_bytes() == content
    assert [steps[f"{n:02d}"]["status"] for n in range(1, 12)] == ["passed"] * 11
    assert steps["03"]["hints_used"] == 1 and steps["05"]["hints_used"] == 1
    for n in (12, 13):
        assert (old_ws / "exercises" / f"step_{n}.py").read_text() == get_step(n).skeleton()
    assert steps["12"]["status"] == "todo" and steps["13"]["status"] == "locked"
    # step 14 was re-checked: the 12-step loop feeds the whole sequence, and the message says what to change
    assert steps["14"]["status"] == "locked"
    notice = " ".join(result.stderr.split())
    assert "exercises/step_12.py is now exercises/step_14.py, unchanged" in notice
    assert "The model keeps a KV cache now" in notice and "pass only the token just picked" in notice
    assert json.loads((old_ws / ".gpt2tutor" / "state.json").read_text())["schema"] == 2

    again = cli("list", "-w", old_ws)  # once only
    assert again.exit_code == 0 and "Workspace updated" not in again.stderr


def test_start_on_a_schema_1_workspace_puts_no_skeleton_over_the_moved_file(old_ws: Path) -> None:
    result = cli("start", old_ws)
    assert result.exit_code == 0, result.output
    assert (old_ws / "exercises" / "step_14.py").read_bytes() == (FIXTURE / "exercises" / "step_12.py").read_bytes()
    assert "Workspace updated" in result.stderr
