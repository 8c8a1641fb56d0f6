"""Fault injection: learner code that misbehaves in every way we know, and a tutor killed mid-write."""

from __future__ import annotations

import json
import random
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import SEED, check_file, write_solutions
from test_cli import cli, ws  # noqa: F401 - ws is a fixture

from gpt2tutor.checking.runner import run_checks
from gpt2tutor.maxenv import child_environment
from gpt2tutor.registry import get_step
from gpt2tutor.state import SCHEMA, State, load, save
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
    "os_exit_0": ("import os; os._exit(0)", "exit code 0"),  # a clean exit code, yet the checks never finished
    "abort": ("import os; os.abort()", "SIGABRT"),
    "segfault": ("import ctypes; ctypes.string_at(0)", "SIGSEGV"),
    "reads_stdin": ("input('your name? ')", "EOFError"),
    "infinite_loop": ("while True: pass", "did not finish within"),
    "prints_megabytes": ("while True: print('x' * 10000)", "did not finish within"),
}
PYTHON_ERRORS = {"raises", "sys_exit", "reads_stdin"}  # these come with a traceback of the learner's lines
TIME_LIMIT = 8  # seconds, given as --timeout
MARGIN = 4  # seconds from the time limit to the verdict: killing the process, saving the state
FRAME = re.compile(r'^\s*(?:File ")?(?P<file>[^\s",][^",]*?)"?, line \d+')  # ours or Python's own format


def frames(message: str) -> list[str]:
    """The files named by the traceback lines in a failure message."""
    return [m["file"] for m in map(FRAME.match, message.splitlines()) if m]


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_misbehaving_learner_code_is_reported_and_contained(ws: Path, fault: str) -> None:
    """Through `gpt2tutor check`: the verdict names the fault within the time limit, shows only the
    learner's own frames, and leaves their file and state.json byte for byte as they were."""
    code, expected = FAULTS[fault]
    entered = ws / "entered"  # when the learner's forward started: the time limit covers what follows
    source = mlp_whose_forward(f"open({str(entered)!r}, 'w').write(repr(time.time()))\n{code}",
                               imports="import time")
    exercise = ws / "exercises" / "step_04.py"
    exercise.write_text(source)
    state_file = ws / ".gpt2tutor" / "state.json"
    state_before = state_file.read_bytes()

    result = cli("check", "04", "--force", "--json", "--timeout", TIME_LIMIT, "-w", ws)
    returned = time.time()
    assert result.exit_code == 1, result.output
    failures = [r for r in json.loads(result.stdout) if not r["passed"]]
    assert failures, "misbehaving code passed its check"
    message = failures[-1]["message"]
    assert expected in message, message
    named = frames(message)
    assert all(re.fullmatch(r"step_\d\d\.py", Path(f).name) and (ws / "exercises" / f).is_file() for f in named), \
        f"a frame that is not the learner's own file: {named}\n{message}"
    if fault in PYTHON_ERRORS:
        assert "step_04.py" in named, f"the learner's own line is missing:\n{message}"
    assert returned - float(entered.read_text()) < TIME_LIMIT + MARGIN
    assert exercise.read_text() == source
    assert state_file.read_bytes() == state_before  # step 04 was not passed before, and is not now


def test_fault_at_import_time_names_the_file(tmp_path: Path) -> None:
    outcome = check_file(tmp_path, 4, "import sys\nsys.exit('bye')\n", timeout=30)
    failure = next(r for r in outcome.results if not r.passed)
    assert failure.phase == "file"
    assert "SystemExit" in failure.message


def test_a_failed_import_shows_the_learners_frames_only(tmp_path: Path) -> None:
    """Python's own `<frozen importlib._bootstrap>` frames (which resolve under the check's working folder, the
    exercises) are not the learner's: only their line shows, with no blank lines."""
    step = get_step(5)
    outcome = check_file(tmp_path, step, step.solution() + "\nimport no_such_module_anywhere\n", timeout=60)
    failure = next(r for r in outcome.results if not r.passed)
    assert failure.phase == "file"
    assert "frozen" not in failure.message and "\n\n" not in failure.message, failure.message
    assert frames(failure.message) == ["step_05.py"], failure.message
    assert "import no_such_module_anywhere" in failure.message
    assert failure.message.rstrip().endswith("No module named 'no_such_module_anywhere'"), failure.message


def test_a_syntax_error_in_an_earlier_file_is_told_once(tmp_path: Path) -> None:
    """Seen from a later step's check: the import line in the later file, then the earlier file's bad line once."""
    exercises = tmp_path / "exercises"
    write_solutions(exercises)
    (exercises / "step_01.py").write_text(get_step(1).solution() + "\nbroken = (\n")
    outcome = run_checks([get_step(5)], exercises, timeout=60, seed=SEED)[0]
    failure = next(r for r in outcome.results if not r.passed)
    assert "step_01.py" in failure.message and "frozen" not in failure.message, failure.message
    assert failure.message.count("broken = (") == 1 and failure.message.count("SyntaxError") == 1, failure.message
    assert frames(failure.message) == ["step_05.py", "step_01.py"], failure.message


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


@pytest.mark.parametrize("then", ["time.sleep(600)", "return x"], ids=["held until the time limit", "left behind"])
def test_a_process_that_left_the_group_goes_too(tmp_path: Path, then: str) -> None:
    """Learner code that starts a process in a session of its own (setsid): it goes with the check, whether the
    code then hangs until the time limit or returns and leaves it running."""
    pidfile = tmp_path / "detached.pid"
    source = mlp_whose_forward(f"""
        p = subprocess.Popen(["sleep", "600"], start_new_session=True)
        open({str(pidfile)!r}, "w").write(str(p.pid))
        {then}
    """, imports="import subprocess, time")
    check_file(tmp_path, 4, source, timeout=8)
    pid = int(pidfile.read_text())
    deadline = time.monotonic() + 5
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(pid), f"process {pid}, which left the check's process group, outlived the check"


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
    state = State()
    state.steps["01"].hints_used = n
    state.steps["02"].passed = n % 2 == 0
    save(ws, state)
    if n == 1:
        print("saved", flush=True)
"""


def test_state_survives_sigkill_mid_write(tmp_path: Path) -> None:
    """SIGKILL at 50 random moments of a process rewriting state.json: it always parses, old or new.

    Each kill comes a random 0-30 ms after the writer's first save, while it keeps saving, so every
    kill lands among writes (the state read back shows how many completed).
    """
    ws = Workspace(tmp_path)
    save(ws, State())
    rng = random.Random(1234)
    writes = []
    for _ in range(50):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path)], stdout=subprocess.PIPE, text=True,
                                env=child_environment())
        try:
            assert proc.stdout.readline() == "saved\n", "the writer never saved"
            time.sleep(rng.random() * 0.03)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        state = load(ws)  # raises CorruptState if a torn file were ever visible
        assert json.loads(ws.state_file.read_text())["schema"] == SCHEMA
        assert state.current.id in ("01", "02")
        writes.append(state.steps["01"].hints_used)  # the writes this writer completed before the kill
    assert min(writes) >= 1
    assert len(set(writes)) >= 3, f"the kills did not land at varied moments of the writing: {writes}"
