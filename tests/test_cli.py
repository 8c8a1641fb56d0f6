"""The command line, driven for real: Typer's CliRunner in-process, and subprocesses where the process
itself matters (Ctrl-C, watch, what `--help` imports). Written against step 04 (its check exists),
never against the skeletons' exact text. Each `check` runs a real child process (~1–3 s)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gpt2tutor.cli import COMMANDS, app
from gpt2tutor.cli.runs import dependency_notes, imported_steps
from gpt2tutor.curriculum import STEPS, get_step
from gpt2tutor.state import State, save
from gpt2tutor.workspace import Workspace

STEP = get_step(4)
ENV = {"GPT2TUTOR_WORKSPACE": None, "VISUAL": None, "EDITOR": None, "COLUMNS": "200", "NO_COLOR": "1",
       "GPT2TUTOR_DEBUG": None}
runner = CliRunner()


def cli(*args, input: str | None = None, env: dict | None = None):
    return runner.invoke(app, [str(a) for a in args], input=input, env={**ENV, **(env or {})})


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def state_json(root: Path) -> dict:
    return json.loads((root / ".gpt2tutor" / "state.json").read_text())


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    result = cli("start", root)
    assert result.exit_code == 0, result.output
    return root


def stderr_lines(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.strip()]


# --- help ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help(command: str | None) -> None:
    result = cli(*([command] if command else []), "--help")
    assert result.exit_code == 0, result.output
    assert "Usage" in result.stdout
    assert "Traceback" not in result.output


def test_help_imports_nothing_heavy() -> None:
    code = ("import sys\nfrom gpt2tutor.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit as e:\n"
            "    code = e.code\nheavy = [m for m in ('max', 'torch', 'transformers', 'numpy') if m in sys.modules]\n"
            "print('HEAVY=' + ','.join(heavy), 'CODE=%s' % code)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60).stdout
    assert "HEAVY= CODE=0" in out, out


# --- the main path: start, fail, solve, pass, list, change --------------------------------------

def test_start_check_solution_check_list(ws: Path) -> None:
    exercise = ws / "exercises" / STEP.filename
    assert exercise.read_text() == STEP.skeleton()
    assert all((ws / "exercises" / s.filename).is_file() for s in STEPS)
    assert state_json(ws)["schema"] == 1

    failing = cli("check", "04", "--force", "--json", "-w", ws)
    assert failing.exit_code == 1, failing.output
    results = json.loads(failing.stdout)
    assert results and all(set(r) == {"step", "phase", "name", "passed", "message"} for r in results)
    assert {r["step"] for r in results} == {"04"} and not all(r["passed"] for r in results)
    assert state_json(ws)["steps"]["04"]["passed"] is False

    answer = cli("solution", "04", "--yes", "-w", ws)
    assert answer.exit_code == 0, answer.output
    assert answer.stdout == STEP.solution()  # bare file content off a terminal
    exercise.write_text(answer.stdout)

    passing = cli("check", "step_04", "--force", "-w", ws)
    assert passing.exit_code == 0, passing.output
    assert "Behaviour against the reference" in passing.stdout and "passes" in passing.stdout
    record = state_json(ws)["steps"]["04"]
    assert record["passed"] is True and record["hash"] == sha(exercise)

    listing = cli("list", "-w", ws)
    assert listing.exit_code == 0
    row = next(line for line in listing.stdout.splitlines() if "Feed-forward network" in line)
    assert "passed" in row and "changed" not in row
    assert f"1 of {len(STEPS)} steps passed" in listing.stdout

    exercise.write_text(exercise.read_text() + "\n# an edit after passing\n")
    row = next(line for line in cli("list", "-w", ws).stdout.splitlines() if "Feed-forward network" in line)
    assert "changed since passed" in row

    # after passing, the solution needs no confirmation
    again = cli("solution", "4", "-w", ws)
    assert again.exit_code == 0 and again.stdout == STEP.solution()


def test_passing_the_current_step_unlocks_the_next(ws: Path) -> None:
    pytest.importorskip("gpt2tutor.checks.check_01")
    one = get_step(1)
    (ws / "exercises" / one.filename).write_text(one.solution())
    assert cli("check", "02", "-w", ws).exit_code == 2  # locked until 01 passes
    result = cli("check", "-w", ws)  # the current step: 01
    assert result.exit_code == 0, result.output
    assert "step 01 passes" in result.stdout and "Next: step 02" in result.stdout
    assert state_json(ws)["current"] == 2
    shown = cli("show", "-w", ws)
    assert shown.exit_code == 0 and "Step 02" in shown.stdout


def test_check_all_rebuilds_from_results(ws: Path) -> None:
    state = State()
    state.mark(get_step(1), True, "stale")  # claims step 01 passed: the checks will say otherwise
    save(Workspace(ws), state)
    result = cli("check", "--all", "--json", "-w", ws)
    assert result.exit_code == 1, result.output
    results = json.loads(result.stdout)
    assert results and results[0]["step"] == "01"
    assert state_json(ws)["steps"]["01"]["passed"] is False


# --- hints, solution, reset -----------------------------------------------------------------------

def test_hint_tiers_are_recorded(ws: Path) -> None:
    assert cli("hint", "04", "-w", ws).exit_code == 2  # locked
    tiers = STEP.hints
    assert len(tiers) == 3
    for used, name in enumerate(["nudge", "concept", "near-solution"], start=1):
        result = cli("hint", "04", "--force", "-w", ws)
        assert result.exit_code == 0, result.output
        assert name in result.stdout
        assert state_json(ws)["steps"]["04"]["hints_used"] == used
    last = cli("hint", "04", "--force", "-w", ws)
    assert last.exit_code == 0 and "No more hints" in last.stdout and "near-solution" in last.stdout
    assert state_json(ws)["steps"]["04"]["hints_used"] == 3
    row = next(line for line in cli("list", "-w", ws).stdout.splitlines() if "Feed-forward network" in line)
    assert "3/3" in row


def test_solution_needs_yes_without_a_terminal(ws: Path) -> None:
    result = cli("solution", "04", "-w", ws)
    assert result.exit_code == 2
    assert len(stderr_lines(result)) == 1 and "--yes" in result.stderr
    assert result.stdout == ""


def test_reset_restores_the_skeleton_and_keeps_a_backup(ws: Path) -> None:
    exercise = ws / "exercises" / STEP.filename
    mine = STEP.solution() + "\n# mine\n"
    exercise.write_text(mine)
    state = State()
    state.mark(STEP, True, sha(exercise))
    save(Workspace(ws), state)

    refused = cli("reset", "04", "-w", ws)
    assert refused.exit_code == 2 and len(stderr_lines(refused)) == 1
    assert exercise.read_text() == mine

    result = cli("reset", "04", "--yes", "-w", ws)
    assert result.exit_code == 0, result.output
    assert exercise.read_text() == STEP.skeleton()
    backups = list((ws / ".gpt2tutor" / "backups").glob("step_04.py.*"))
    assert len(backups) == 1 and backups[0].read_text() == mine
    assert backups[0].name in result.stdout.replace("\n", "")
    assert state_json(ws)["steps"]["04"]["passed"] is False


def test_start_is_idempotent_and_never_overwrites(ws: Path) -> None:
    exercise = ws / "exercises" / STEP.filename
    exercise.write_text("# my work\n")
    (ws / "exercises" / "step_05.py").unlink()
    before = state_json(ws)
    result = cli("start", ws)
    assert result.exit_code == 0, result.output
    assert "Welcome back" in result.stdout
    assert exercise.read_text() == "# my work\n"
    assert (ws / "exercises" / "step_05.py").read_text() == get_step(5).skeleton()
    assert state_json(ws) == before


def test_start_in_a_folder_holding_exercises_resumes_it(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "exercises").mkdir()
    (tmp_path / "exercises" / STEP.filename).write_text("# my work\n")
    monkeypatch.chdir(tmp_path)
    result = cli("start")
    assert result.exit_code == 0, result.output
    assert (tmp_path / ".gpt2tutor" / "state.json").is_file()
    assert not (tmp_path / "gpt2-workspace").exists()
    assert (tmp_path / "exercises" / STEP.filename).read_text() == "# my work\n"
    assert "picking up" in result.stderr or "pick up where you left off" in result.stderr


def test_open_prints_the_path_without_an_editor(ws: Path) -> None:
    result = cli("open", "01", "-w", ws)
    assert result.exit_code == 0
    assert result.stdout.strip() == str((ws / "exercises" / "step_01.py").resolve())
    edited = cli("open", "01", "-w", ws, env={"EDITOR": f"{sys.executable} -c pass"})
    assert edited.exit_code == 0, edited.output


def test_show_renders_the_lesson(ws: Path) -> None:
    result = cli("show", "-w", ws)
    assert result.exit_code == 0, result.output
    assert "Step 01" in result.stdout and "check 01" in result.stdout


def test_doctor(ws: Path) -> None:
    result = cli("doctor", "-w", ws)
    assert result.exit_code == 0, result.output
    for label in ("Python", "MAX", "Device", "Kernel cache", "Workspace", "Progress", "HF weights"):
        assert label in result.stdout


# --- state corruption -----------------------------------------------------------------------------

CORRUPTIONS = {
    "truncated": b'{"schema": 1, "current": 3, "ste',
    "not-json": b"\x00\x01 this is not json",
    "wrong-shape": b'["a", "list"]',
    "future-schema": json.dumps({"schema": 99, "current": 1, "steps": {}}).encode(),
}


@pytest.mark.parametrize("kind", CORRUPTIONS)
def test_corrupt_state_is_backed_up_and_rebuilt(ws: Path, kind: str) -> None:
    state_file = ws / ".gpt2tutor" / "state.json"
    state_file.write_bytes(CORRUPTIONS[kind])
    result = cli("list", "-w", ws)
    assert result.exit_code == 0, result.output
    assert "could not be read" in result.stderr and "Rebuilding" in result.stderr
    backups = list((ws / ".gpt2tutor" / "backups").glob("state.json.corrupt-*"))
    assert len(backups) == 1 and backups[0].read_bytes() == CORRUPTIONS[kind]
    assert backups[0].name in result.stderr.replace("\n", "")
    rebuilt = State.from_json(state_json(ws))  # valid again
    assert not rebuilt.record(get_step(1)).passed  # the skeleton does not pass
    # once rebuilt, nothing more is said
    quiet = cli("list", "-w", ws)
    assert quiet.exit_code == 0 and quiet.stderr == ""


# --- locking --------------------------------------------------------------------------------------

@pytest.mark.parametrize("command", ["check", "show", "open", "hint", "watch"])
def test_locked_steps_refuse_without_force(ws: Path, command: str) -> None:
    result = cli(command, "05", "-w", ws)
    assert result.exit_code == 2, result.output
    assert stderr_lines(result) == [line for line in stderr_lines(result) if "locked" in line]
    assert len(stderr_lines(result)) == 1 and "step 04" in result.stderr


def test_the_last_step_waits_for_every_earlier_step(ws: Path) -> None:
    last = STEPS[-1]
    assert last.needs_every_earlier and not any(s.needs_every_earlier for s in STEPS[:-1])
    state = State()
    for step in STEPS[:-1]:
        if step.number != 7:
            state.mark(step, True, "x")
    save(Workspace(ws), state)
    result = cli("show", last.id, "-w", ws)
    assert result.exit_code == 2 and "07" in result.stderr
    assert cli("show", last.id, "--force", "-w", ws).exit_code == 0
    state.mark(STEPS[6], True, "x")
    save(Workspace(ws), state)
    assert cli("show", last.id, "-w", ws).exit_code == 0


def test_list_json(ws: Path) -> None:
    result = cli("list", "--json", "-w", ws)
    assert result.exit_code == 0, result.output
    steps = json.loads(result.stdout)["steps"]
    assert [s["step"] for s in steps] == [s.id for s in STEPS]
    assert steps[0] == {"step": "01", "title": STEPS[0].title, "status": "todo", "hints_used": 0}
    assert {s["status"] for s in steps[1:]} == {"locked"}


def test_open_and_show_follow_unlocking(ws: Path) -> None:
    state = State()
    for step in STEPS[:4]:
        state.mark(step, True, "x")
    save(Workspace(ws), state)
    assert cli("show", "05", "-w", ws).exit_code == 0
    assert cli("open", "06", "-w", ws).exit_code == 2
    assert cli("open", "06", "--force", "-w", ws).exit_code == 0


# --- bad input: one line on stderr, exit 2, never a traceback ------------------------------------

BAD_INPUTS = [
    ("check 13", lambda ws: ["check", "13", "-w", ws]),
    ("check 0", lambda ws: ["check", "0", "-w", ws]),
    ("check abc", lambda ws: ["check", "abc", "-w", ws]),
    ("check ../x", lambda ws: ["check", "../x", "-w", ws]),
    ("check absolute path", lambda ws: ["check", str(ws / "exercises" / "step_04.py"), "-w", ws]),
    ("check empty", lambda ws: ["check", "", "-w", ws]),
    ("check step_13", lambda ws: ["check", "step_13", "-w", ws]),
    ("check 7.5", lambda ws: ["check", "7.5", "-w", ws]),
    ("check -1", lambda ws: ["check", "-1", "-w", ws]),
    ("check step and --all", lambda ws: ["check", "04", "--all", "-w", ws]),
    ("check --timeout 0", lambda ws: ["check", "01", "--timeout", "0", "-w", ws]),
    ("check --timeout abc", lambda ws: ["check", "01", "--timeout", "abc", "-w", ws]),
    ("check unknown option", lambda ws: ["check", "--bogus", "-w", ws]),
    ("list unknown option", lambda ws: ["list", "--frobnicate", "-w", ws]),
    ("unknown command", lambda ws: ["frobnicate"]),
    ("show 99", lambda ws: ["show", "99", "-w", ws]),
    ("hint abc", lambda ws: ["hint", "abc", "-w", ws]),
    ("open step_x", lambda ws: ["open", "step_x", "-w", ws]),
    ("solution without a step", lambda ws: ["solution", "-w", ws]),
    ("solution abc", lambda ws: ["solution", "abc", "--yes", "-w", ws]),
    ("solution on a pipe without --yes", lambda ws: ["solution", "04", "-w", ws]),
    ("reset without a step", lambda ws: ["reset", "-w", ws]),
    ("reset 13", lambda ws: ["reset", "13", "--yes", "-w", ws]),
    ("reset on a pipe without --yes", lambda ws: ["reset", "04", "-w", ws]),
    ("--workspace missing", lambda ws: ["list", "-w", ws.parent / "nowhere"]),
    ("--workspace a file", lambda ws: ["list", "-w", ws / "exercises" / "step_01.py"]),
    ("--workspace not a workspace", lambda ws: ["check", "-w", ws / "exercises"]),
    ("--workspace without a value", lambda ws: ["list", "--workspace"]),
    ("start on a file", lambda ws: ["start", ws / "exercises" / "step_01.py"]),
    ("start with two folders", lambda ws: ["start", ws, "-w", ws.parent / "other"]),
]


@pytest.mark.parametrize("name,make_args", BAD_INPUTS, ids=[name for name, _ in BAD_INPUTS])
def test_bad_input_is_one_line_and_exit_2(ws: Path, name: str, make_args) -> None:
    result = cli(*make_args(ws))
    assert result.exit_code == 2, (name, result.output)
    lines = stderr_lines(result)
    assert len(lines) == 1, (name, result.stderr)
    assert lines[0].startswith("gpt2tutor: error: ")
    assert "Traceback" not in result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)


def test_no_workspace(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    for args in (["list"], ["check"], ["hint"], ["show", "01"]):
        result = cli(*args)
        assert result.exit_code == 2 and len(stderr_lines(result)) == 1, result.output
        assert "gpt2tutor start" in result.stderr
    env_missing = cli("list", env={"GPT2TUTOR_WORKSPACE": str(tmp_path / "nowhere")})
    assert env_missing.exit_code == 2 and len(stderr_lines(env_missing)) == 1


def test_workspace_found_from_env_and_from_a_subfolder(ws: Path, monkeypatch) -> None:
    assert cli("list", env={"GPT2TUTOR_WORKSPACE": str(ws)}).exit_code == 0
    monkeypatch.chdir(ws / "exercises")
    assert cli("list").exit_code == 0


def test_exercises_folder_deleted(ws: Path) -> None:
    for path in (ws / "exercises").iterdir():
        path.unlink()
    (ws / "exercises").rmdir()
    result = cli("check", "-w", ws)
    assert result.exit_code == 2 and len(stderr_lines(result)) == 1
    assert "start" in result.stderr
    assert cli("start", ws).exit_code == 0  # puts them back
    assert (ws / "exercises" / STEP.filename).is_file()


def test_read_only_workspace(ws: Path, monkeypatch) -> None:
    if os.geteuid() != 0:
        os.chmod(ws / ".gpt2tutor", 0o555)
    else:  # root may write anywhere: make the check see the folder as read-only
        real_access = os.access
        monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if mode == os.W_OK and str(p).startswith(
            str(ws)) else real_access(p, mode, **kw))
    try:
        for args in (["hint", "-w", ws], ["check", "-w", ws], ["reset", "01", "--yes", "-w", ws], ["start", ws]):
            result = cli(*args)
            assert result.exit_code == 2, (args, result.output)
            assert len(stderr_lines(result)) == 1 and "read-only" in result.stderr
    finally:
        os.chmod(ws / ".gpt2tutor", 0o755)


# --- dependencies between steps -------------------------------------------------------------------

def test_a_failing_step_names_the_earlier_file_that_changed(ws: Path) -> None:
    workspace = Workspace(ws.resolve())
    seven, two = get_step(7), get_step(2)
    for step in STEPS[:7]:
        (ws / "exercises" / step.filename).write_text(step.solution())
    assert two in imported_steps(workspace, seven)
    state = State()
    for step in STEPS[:6]:
        state.mark(step, True, workspace.file_hash(step))
    (ws / "exercises" / two.filename).write_text(two.solution() + "\n# changed\n")
    notes = dependency_notes(workspace, state, seven)
    assert notes == ["step_07 builds on step_02.py, which changed since it passed — run `gpt2tutor check 02`"]


# --- real processes: Ctrl-C and watch ---------------------------------------------------------------

def _spawn(*args: str, cwd: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in ("GPT2TUTOR_WORKSPACE", "VISUAL", "EDITOR")}
    env.update(PYTHONUNBUFFERED="1", NO_COLOR="1", COLUMNS="200")
    return subprocess.Popen([sys.executable, "-c", "from gpt2tutor.cli import main; main()", *args], cwd=cwd,
                            env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _wait_for(proc: subprocess.Popen, text: str, seen: list[str], deadline: float) -> None:
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        if text in line:
            return
    proc.kill()
    raise AssertionError(f"never saw {text!r}:\n{''.join(seen)}\n{proc.stderr.read()}")


def test_ctrl_c_during_check_exits_130_and_records_nothing(ws: Path) -> None:
    (ws / "exercises" / STEP.filename).write_text("import time\ntime.sleep(60)\n")
    before = (ws / ".gpt2tutor" / "state.json").read_bytes()
    proc = _spawn("check", "04", "--force", cwd=ws)
    seen: list[str] = []
    _wait_for(proc, "Checking step 04", seen, time.monotonic() + 60)
    time.sleep(1.5)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, "".join(seen) + out + err
    assert "Traceback" not in out + err
    assert (ws / ".gpt2tutor" / "state.json").read_bytes() == before


def test_watch_rechecks_on_save_and_stops_on_ctrl_c(ws: Path) -> None:
    exercise = ws / "exercises" / STEP.filename
    proc = _spawn("watch", "04", "--force", "--poll", cwd=ws)
    seen: list[str] = []
    deadline = time.monotonic() + 120
    _wait_for(proc, "does not pass yet", seen, deadline)
    _wait_for(proc, "save it to re-check", seen, deadline)
    exercise.write_text(STEP.solution())
    _wait_for(proc, "step 04 passes", seen, deadline)
    _wait_for(proc, "move on", seen, deadline)
    assert state_json(ws)["steps"]["04"]["passed"] is True
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, "".join(seen) + out + err
    assert "Traceback" not in out + err


def test_an_internal_error_is_one_line_pointing_at_a_bug_report(ws: Path, monkeypatch) -> None:
    import gpt2tutor.cli.list as list_command

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(list_command, "overview", broken)
    result = cli("list", "-w", ws)
    assert result.exit_code == 1
    assert len(stderr_lines(result)) == 1 and "internal error" in result.stderr and "bug" in result.stderr
    assert "Traceback" not in result.output
