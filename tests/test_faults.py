"""Fault injection: learner code that misbehaves in every way we know, and a tutor killed mid-write."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from conftest import check_file
from gpt2tutor.curriculum import STEPS, get_step
from gpt2tutor.state import State, load, save
from gpt2tutor.workspace import Workspace



def mlp_whose_forward(body: str, imports: str = "") -> str:
    """A step-04 file with GPT-2's MLP parameters and `body` as its forward."""
    return textwrap.dedent(f"""
        from max.experimental.nn import Linear, Module
        {imports}
        class GPT2MLP(Module):
            def __init__(self, intermediate_size, config):
                self.c_fc = Linear(config.n_embd, intermediate_size)
                self.c_proj = Linear(intermediate_size, config.n_embd)

            def forward(self, x):
    """) + textwrap.indent(textwrap.dedent(body).strip() + "\n", " " * 8)


FAULTS = {
    "raises": ("raise ValueError('boom')", "ValueError: boom"),
    "sys_exit": ("import sys; sys.exit(3)", "SystemExit: 3"),
    "os_exit": ("import os; os._exit(7)", "exit code 7"),
    "abort": ("import os; os.abort()", "SIGABRT"),
    "segfault": ("import ctypes; ctypes.string_at(0)", "SIGSEGV"),
    "reads_stdin": ("input('your name? ')", "EOFError"),
    "infinite_loop": ("while True: pass", "did not finish within"),
    "prints_megabytes": ("while True: print('x' * 10000)", "did not finish within"),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_misbehaving_learner_code_is_reported_and_contained(tmp_path: Path, fault: str) -> None:
    code, expected = FAULTS[fault]
    source = mlp_whose_forward(code)
    started = time.monotonic()
    outcome = check_file(tmp_path, 4, source, timeout=8)
    elapsed = time.monotonic() - started
    failures = [r for r in outcome.results if not r.passed]
    assert failures, "misbehaving code passed its check"
    assert expected in failures[-1].message, failures[-1].message
    assert "gpt2tutor/checking" not in failures[-1].message  # the learner sees their frames, not ours
    assert elapsed < 60
    assert (tmp_path / "exercises" / "step_04.py").read_text() == source  # the learner's file is untouched


def test_fault_at_import_time_names_the_file(tmp_path: Path) -> None:
    outcome = check_file(tmp_path, 4, "import sys\nsys.exit('bye')\n", timeout=30)
    failure = next(r for r in outcome.results if not r.passed)
    assert failure.phase == "file"
    assert "SystemExit" in failure.message


def test_no_process_is_left_behind(tmp_path: Path) -> None:
    """Learner code that starts a long-lived process of its own: the whole group goes at the time limit."""
    pidfile = tmp_path / "sleeper.pid"
    source = mlp_whose_forward(f"""
        p = subprocess.Popen(["sleep", "600"])
        open({str(pidfile)!r}, "w").write(str(p.pid))
        time.sleep(600)
    """, imports="import subprocess, time")
    check_file(tmp_path, 4, source, timeout=8)
    pid = int(pidfile.read_text())
    deadline = time.monotonic() + 5
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(pid), f"process {pid} started by the learner's code outlived the check"


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for init to reap it counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_a_crashing_step_does_not_stop_the_others(tmp_path: Path) -> None:
    from conftest import write_solutions
    from gpt2tutor.checking.runner import run_checks

    exercises = tmp_path / "exercises"
    write_solutions(exercises)
    (exercises / "step_03.py").write_text("import os\nos.abort()\n")
    outcomes = run_checks([get_step(n) for n in (2, 3, 4)], exercises, timeout=60)
    assert [o.passed for o in outcomes] == [True, False, True]


WRITER = """
import sys
from pathlib import Path
from gpt2tutor.state import State, save
from gpt2tutor.workspace import Workspace
ws = Workspace(Path(sys.argv[1]))
n = 0
while True:
    n += 1
    state = State(current=1 + n % len(STEPS))
    state.steps["01"].hints_used = n
    save(ws, state)
"""


def test_state_survives_sigkill_mid_write(tmp_path: Path) -> None:
    """SIGKILL at 50 random moments of a process rewriting state.json: it always parses, old or new."""
    ws = Workspace(tmp_path)
    save(ws, State())
    rng = random.Random(1234)
    for _ in range(50):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path)])
        time.sleep(0.15 + rng.random() * 0.15)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        state = load(ws)  # raises CorruptState if a torn file were ever visible
        assert json.loads(ws.state_file.read_text())["schema"] == 1
        assert 1 <= state.current <= len(STEPS)
