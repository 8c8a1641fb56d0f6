"""A workspace written by the 12-step tutor (schema 1, kept in tests/fixtures) opens with nothing lost.

The fixture was made by gpt2tutor at 4702f37: reference solutions of 01-11 passed with `check --all`,
hints taken for 03 and 05, and step_12.py (generation, then the last step) holding a learner's edits.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gpt2tutor.cli import app
from gpt2tutor.maxenv import child_environment
from gpt2tutor.registry import get_step

PACKAGE = Path(__file__).resolve().parents[1] / "gpt2tutor"
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


TWO_HOPS = """[history.schema1]
steps = 12
renamed = { "12" = "13" }

[history.schema2]
steps = 13
renamed = { "13" = "14" }
"""


def test_a_second_declared_schema_migrates_through_the_same_loop(tmp_path: Path) -> None:
    """A copy of the course whose history says the 12-step course became a 13-step one, then this one: the schema-1
    workspace walks both entries and ends as the one-entry history leaves it, its generation file moved twice."""
    site = tmp_path / "site"
    shutil.copytree(PACKAGE, site / "gpt2tutor", ignore=shutil.ignore_patterns("__pycache__"))
    toml = site / "gpt2tutor" / "course" / "course.toml"
    text, count = re.subn(r"^\[history\.schema1\].*\Z", TWO_HOPS, toml.read_text("utf-8"), flags=re.M | re.S)
    assert count == 1, "course.toml's history is no longer its last table: update this test"
    toml.write_text(text, encoding="utf-8")
    ws = tmp_path / "ws"
    shutil.copytree(FIXTURE, ws)
    env = child_environment(PYTHONPATH=str(site), GPT2TUTOR_KERNELS="0", NO_COLOR="1", COLUMNS="200")
    env.pop("GPT2TUTOR_WORKSPACE", None)
    done = subprocess.run([sys.executable, "-m", "gpt2tutor", "list", "--json", "-w", str(ws)], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    steps = {s["step"]: s for s in json.loads(done.stdout)["steps"]}

    assert json.loads((ws / ".gpt2tutor" / "state.json").read_text())["schema"] == 3  # one past the history
    assert (ws / "exercises" / "step_14.py").read_bytes() == (FIXTURE / "exercises" / "step_12.py").read_bytes()
    labels = sorted(p.name.split(".", 2)[-1].split("-")[0] for p in (ws / ".gpt2tutor" / "backups").iterdir())
    assert labels == ["schema1", "schema1", "schema2"], labels  # state.json and step_12.py, then step_13.py
    assert [steps[f"{n:02d}"]["status"] for n in range(1, 12)] == ["passed"] * 11
    assert steps["03"]["hints_used"] == 1 and steps["05"]["hints_used"] == 1
    for n in (12, 13):
        assert (ws / "exercises" / f"step_{n}.py").read_text() == get_step(n).skeleton()
    notice = " ".join(done.stderr.split())
    assert "exercises/step_12.py is now exercises/step_14.py, unchanged" in notice
    assert "12 · Loading the real weights, 13 · The KV cache and 15 · Serving many at once are new" in notice
    assert "Step 14 was re-checked" in notice and not list(ws.glob("exercises/.*"))


def test_the_history_must_declare_every_earlier_schema_with_real_step_ids() -> None:
    from gpt2tutor.registry import CourseError, _history

    assert [h.number for h in _history({"schema1": {"steps": 12}, "schema2": {"steps": 13}}, 14)] == [1, 2]
    with pytest.raises(CourseError, match="schema1"):
        _history({"schema2": {"steps": 13}}, 14)  # a gap: schema 1 is missing
    with pytest.raises(CourseError, match="renames '12' to '15'"):
        _history({"schema1": {"steps": 12, "renamed": {"12": "15"}}}, 14)  # no step 15 in the course after it
