"""One environment's interpreter is one installation, whatever name it was started by: the `gpt2tutor` script
runs `python3`, `python -m gpt2tutor` runs `python`, and both must share the spare check processes the
background keeps (checking/spares.py). Two environments are two installations (tests/test_installations.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

CODE = "from gpt2tutor import installation; print(installation.identity())"


def test_the_names_of_one_interpreter_are_one_installation() -> None:
    folder = Path(sys.executable).parent
    names = [f"python{v}" for v in ("", "3", f"3.{sys.version_info.minor}") if (folder / f"python{v}").exists()]
    if len(names) < 2:
        pytest.skip(f"{folder} holds one name of its interpreter")
    found = {name: subprocess.run([str(folder / name), "-c", CODE], capture_output=True, text=True, check=True,
                                  cwd=Path(__file__).resolve().parents[1]).stdout.strip() for name in names}
    assert len(set(found.values())) == 1, found


def test_a_check_on_the_cpu_leaves_the_environment_as_the_shell_made_it(monkeypatch) -> None:
    """A spare is kept for an environment (checking/spares.py): a check that added the default device to its
    own would ask for a spare no other process of the learner's shell, or a benchmark, predicts."""
    from gpt2tutor import stepcheck
    from gpt2tutor.names import DEVICE_ENV

    monkeypatch.delenv(DEVICE_ENV, raising=False)
    assert stepcheck.run_checks_on(None) == "cpu" and DEVICE_ENV not in os.environ
    assert stepcheck.run_checks_on("cpu") == "cpu" and DEVICE_ENV not in os.environ
    monkeypatch.setenv(DEVICE_ENV, "cpu")
    assert stepcheck.run_checks_on(None) == "cpu" and os.environ[DEVICE_ENV] == "cpu"
