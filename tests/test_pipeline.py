"""The check pipeline below the API's face: `gpt2tutor check NN` parses its step once, reads state.json once
and decides the lock once; `generate` and `serve` unlock on the steps the generation role needs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from test_cli import ws  # noqa: F401 - ws is a fixture
from typer.testing import CliRunner

from gpt2tutor import api, registry
from gpt2tutor.cli import app
from gpt2tutor.registry import STEPS, get_step, needed_for

STEP = STEPS[0]  # a step without MAX ops: its check is a quick child process
ENV = {"GPT2TUTOR_WORKSPACE": None, "GPT2TUTOR_KERNELS": "0", "COLUMNS": "200", "NO_COLOR": "1",
       "GPT2TUTOR_DEBUG": None}
runner = CliRunner()


def cli(*args):
    return runner.invoke(app, [str(a) for a in args], env=ENV)


@pytest.fixture
def reads(monkeypatch) -> list[str]:
    """Every opening of a workspace's state.json for reading, in this process."""
    seen: list[str] = []
    real_open = Path.open

    def counting_open(self, mode="r", *args, **kwargs):
        if self.name == "state.json" and self.parent.name == ".gpt2tutor" and "r" in mode and "+" not in mode:
            seen.append(mode)
        return real_open(self, mode, *args, **kwargs)

    monkeypatch.setattr(Path, "open", counting_open)
    return seen


@pytest.fixture
def parses(monkeypatch) -> list:
    """Every call of the registry's step parser, wherever a module holds it."""
    seen: list = []
    real = registry.get_step

    def counting(arg):
        seen.append(arg)
        return real(arg)

    for module in list(sys.modules.values()):
        if getattr(module, "__name__", "").startswith("gpt2tutor") and getattr(module, "get_step", None) is real:
            monkeypatch.setattr(module, "get_step", counting)
    return seen


def test_check_reads_the_state_once_and_parses_the_step_once(ws: Path, reads: list, parses: list) -> None:
    result = cli("check", STEP.id, "-w", ws)
    assert result.exit_code == 1, result.output  # the skeleton fails its check
    assert "Traceback" not in result.output
    assert len(reads) == 1, f"state.json was read {len(reads)} times"
    assert parses == [STEP.id]


@pytest.mark.parametrize("command", [["list"], ["show", STEP.id], ["hint", STEP.id], ["reset", STEP.id, "--yes"]])
def test_other_commands_read_the_state_once_too(ws: Path, reads: list, command: list) -> None:
    result = cli(*command, "-w", ws)
    assert result.exit_code == 0, result.output
    assert len(reads) == 1, f"{command[0]} read state.json {len(reads)} times"


def test_a_check_records_what_another_command_wrote_meanwhile(ws: Path) -> None:
    """The state read at the start is read again only when another command wrote it during the check: a hint
    asked meanwhile is kept."""
    tutor = api.open(ws)
    chosen, state = tutor.choose(STEP.id)
    api.open(ws).hint(STEP.id)  # another command, while this one checks
    report = tutor.run_check(chosen, state)
    assert not report.passed
    assert api.open(ws).load_and_repair_state().record(STEP).hints_used == 1


def test_a_locked_step_is_refused_once_with_one_line(ws: Path) -> None:
    locked = get_step(3)
    result = cli("check", locked.id, "-w", ws)
    assert result.exit_code == 2 and "is locked" in result.stderr and "Traceback" not in result.output


def _passing(tutor: api.Tutor, steps) -> api.State:
    state = tutor.load_and_repair_state()
    for s in steps:
        state.mark(s, True, tutor.workspace.file_hash(s))
    return state


def test_generation_unlocks_on_the_steps_the_generation_role_needs(ws: Path) -> None:
    tutor = api.open(ws)
    needed = needed_for("generation")
    tutor.require_generation("generate", _passing(tutor, needed))  # later steps, if any, don't lock it
    with pytest.raises(api.TutorError) as locked:
        tutor.require_generation("serve", _passing(tutor, needed[:-1]))
    assert f"still to pass: {needed[-1].id}" in locked.value.message and "serve runs your own model" in locked.value.message
