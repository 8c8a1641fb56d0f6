"""The Ctrl-C tests hold when the suite itself inherits SIGINT ignored.

Started in the background (`( ... & )` in a script, nohup, some CI runners), a process gets SIGINT
ignored, and so does everything it starts: Python then never raises KeyboardInterrupt. The Ctrl-C
tests start the tutor with SIGINT back at its default (tests/processes.py), so they test the tutor and
not their caller's signal mask. Here they run in a pytest started with SIGINT ignored.
"""

from __future__ import annotations

import importlib.util
import signal
import subprocess
import sys
from pathlib import Path

from gpt2tutor.maxenv import child_environment

ROOT = Path(__file__).resolve().parent.parent
CTRL_C_TESTS = [
    "tests/test_cli.py::test_ctrl_c_during_check_exits_130_and_records_nothing",
    "tests/test_cli.py::test_ctrl_c_during_a_watch_recheck_leaves_no_process",
    "tests/test_generate.py::test_ctrl_c_during_generate_exits_130_cleanly[1.0]",
]
if importlib.util.find_spec("uvicorn") is not None:  # the serving extra (tests/test_serve.py skips without it)
    CTRL_C_TESTS.append("tests/test_serve.py::test_ctrl_c_stops_every_process_and_frees_the_port")
# The inner pytest refuses to start unless SIGINT really is ignored in it.
INNER = ("import signal, sys\n"
         "assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN, 'SIGINT is not ignored'\n"
         "import pytest\n"
         "sys.exit(pytest.main(sys.argv[1:]))\n")


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def test_ctrl_c_tests_pass_with_sigint_ignored_by_the_caller(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", INNER, "-q", "-n", "0", "-p", "no:cacheprovider",  # in this process: SIGINT ignored
         "--basetemp", str(tmp_path / "inner"),
         *CTRL_C_TESTS],
        cwd=ROOT, preexec_fn=_ignore_sigint, capture_output=True, text=True, timeout=900, env=child_environment())
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    assert f"{len(CTRL_C_TESTS)} passed" in proc.stdout, proc.stdout[-3000:]
