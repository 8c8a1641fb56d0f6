"""Two installations of the tutor on one machine share a MAX cache, and so one background process, but never a
check process: each check runs in the interpreter and the code of the command that asked for it.

The second installation is a virtual environment of this Python that sees this one's packages (MAX, the tutor)
and has one module of its own, which the learner's file imports: checked from the second installation it
passes, from this one it fails, whoever's background process keeps spare check processes ready."""

from __future__ import annotations

import json
import os
import signal
import site
import subprocess
import sys
import time
import uuid
from pathlib import Path

from processes import MARK, marked

from gpt2tutor import kernels
from gpt2tutor.checking import spares
from gpt2tutor.maxenv import child_environment
from gpt2tutor.registry import get_step

STEP = get_step(1)  # its check imports no MAX: only the spare prepares MAX, in its own installation
MODULE = "only_in_the_second_installation"


def second_installation(root: Path) -> Path:
    """A virtual environment of this Python seeing this environment's packages, plus MODULE; its python."""
    venv = root / "venv-b"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, capture_output=True)
    own = next((venv / "lib").glob("python3*/site-packages"))
    (own / "_this_environment.pth").write_text(
        "".join(f"import site; site.addsitedir({folder!r})\n" for folder in site.getsitepackages()))
    (own / f"{MODULE}.py").write_text("HERE = True\n")
    return venv / "bin" / "python"


def test_two_installations_never_share_a_check_process(tmp_path: Path) -> None:
    """The second installation's check starts its background process, which readies a spare check process
    (in the second installation's Python) for the next check of these exercises; a check from this
    installation, of the same exercises in the same environment, never takes it (it would pass there), and
    `doctor` here says whose background process holds the cache."""
    other = second_installation(tmp_path)
    mark = uuid.uuid4().hex
    env = {**child_environment(), "NO_COLOR": "1", "COLUMNS": "200", MARK: mark,
           kernels.STATE_ENV: str(tmp_path / "state"), kernels.BACKGROUND_SWITCH: "1"}
    env.pop(kernels.ENV_SWITCH, None)
    env.pop("GPT2TUTOR_WORKSPACE", None)
    ws = tmp_path / "ws"

    def tutor(python: Path | str, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(python), "-m", "gpt2tutor", *args, "-w", str(ws)], env=env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=300)

    try:
        started = tutor(sys.executable, "start")
        assert started.returncode == 0, started.stdout + started.stderr
        exercise = ws / "exercises" / STEP.filename
        exercise.write_text(f"import {MODULE}\n{STEP.solution()}")

        theirs = tutor(other, "check", STEP.id)
        assert theirs.returncode == 0, theirs.stdout + theirs.stderr  # MODULE is there
        ready = tmp_path / "state" / "spares"
        deadline = time.monotonic() + 300
        while not any(ready.glob("*/ready.json")):
            assert time.monotonic() < deadline, "the second installation's background readied no spare"
            time.sleep(0.2)
        records = [json.loads(p.read_text()) for p in ready.glob("*/ready.json")]

        for _ in range(2):  # the spare is there, and stays there: this installation never takes it
            ours = tutor(sys.executable, "check", STEP.id)
            assert ours.returncode == 1, ours.stdout + ours.stderr
            assert f"No module named '{MODULE}'" in ours.stdout, ours.stdout + ours.stderr
        assert [json.loads(p.read_text()) for p in ready.glob("*/ready.json")] == records

        doctor = tutor(sys.executable, "doctor", "--json")
        found = {f["what"]: f for f in json.loads(doctor.stdout)["findings"]}
        assert "Background" in found and found["Background"]["mark"] == "warn", doctor.stdout
        assert str(other.parent.parent) in found["Background"]["value"], found["Background"]

        again = tutor(other, "check", STEP.id)  # and the second installation still passes, in its own spare
        assert again.returncode == 0, again.stdout + again.stderr
    finally:
        for pid in marked(mark):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_a_spare_of_another_installation_does_not_fit(tmp_path: Path, monkeypatch) -> None:
    """What `claim` reads: a ready record from another interpreter or other code is never this command's."""
    monkeypatch.setenv(kernels.STATE_ENV, str(tmp_path / "state"))
    from gpt2tutor import __version__, installation

    mine = {"pid": os.getpid(), "version": __version__, "installation": installation.identity(),
            "batches": sorted(kernels.compiled_ids())}
    assert spares.fits(mine)
    assert not spares.fits({**mine, "installation": "another"})
    assert not spares.fits({k: v for k, v in mine.items() if k != "installation"})  # a spare from before
