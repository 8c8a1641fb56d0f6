"""The command line, driven for real: Typer's CliRunner in-process, and subprocesses where the process
itself matters (Ctrl-C, watch, what `--help` imports). Written against step 04 (its check exists),
never against the skeletons' exact text. Each `check` runs a real child process (~1–3 s)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from processes import descendants, finish, interrupt, left_behind, read_until, tutor, wait_until
from typer.testing import CliRunner

from gpt2tutor.api import dependency_notes
from gpt2tutor.cli import COMMANDS, app
from gpt2tutor.maxenv import child_environment
from gpt2tutor.registry import STEPS, by_role, get_step
from gpt2tutor.state import SCHEMA, State, save
from gpt2tutor.workspace import Workspace, imported_steps

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
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=child_environment()).stdout
    assert "HEAVY= CODE=0" in out, out


# --- the main path: start, fail, solve, pass, list, change --------------------------------------

def test_start_check_solution_check_list(ws: Path) -> None:
    exercise = ws / "exercises" / STEP.filename
    assert exercise.read_text() == STEP.skeleton()
    assert all((ws / "exercises" / s.filename).is_file() for s in STEPS)
    assert state_json(ws)["schema"] == SCHEMA

    failing = cli("check", "04", "--force", "--json", "-w", ws)
    assert failing.exit_code == 1, failing.output
    results = json.loads(failing.stdout)
    assert results and all(set(r) == {"step", "phase", "name", "passed", "message", "cause"} for r in results)
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


def test_the_same_seed_replays_the_same_checks(ws: Path) -> None:
    """GPT2TUTOR_SEED fixes the checks' random weights and inputs: the same seed, the same inputs reach the
    learner's code; another seed, others."""
    record = ws / "inputs"
    exercise = ws / "exercises" / STEP.filename
    exercise.write_text(STEP.solution() + f"""

_forward = GPT2MLP.forward


def _recording(self, x):
    with open({str(record)!r}, "a") as f:
        f.write(repr(x.to_numpy().ravel()[:6].tolist()) + "\\n")
    return _forward(self, x)


GPT2MLP.forward = _recording
""")

    def inputs(seed: int) -> str:
        record.unlink(missing_ok=True)
        result = cli("check", "04", "--force", "-w", ws, env={"GPT2TUTOR_SEED": str(seed)})
        assert result.exit_code == 0, result.output
        return record.read_text()

    first = inputs(5)
    assert first.count("\n") >= 2, first
    assert inputs(5) == first
    assert inputs(6) != first


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


def test_open_hands_the_file_to_the_editor(ws: Path) -> None:
    received = ws / "editor-got"
    editor = f"{sys.executable} -c 'import sys; open(sys.argv[1], \"w\").write(\"\\n\".join(sys.argv[2:]))' {received}"
    for variable in ("EDITOR", "VISUAL"):
        received.unlink(missing_ok=True)
        result = cli("open", "01", "-w", ws, env={variable: editor})
        assert result.exit_code == 0, result.output
        assert received.read_text() == str((ws / "exercises" / "step_01.py").resolve()), variable


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


def test_corrupt_state_rebuilds_the_steps_that_pass(ws: Path) -> None:
    """Steps 01-03 solved, 04 not: after state.json is lost, 01-03 come back as passed and 04 on is not."""
    for step in STEPS[:3]:
        (ws / "exercises" / step.filename).write_text(step.solution())
    (ws / ".gpt2tutor" / "state.json").write_bytes(CORRUPTIONS["truncated"])
    result = cli("list", "-w", ws)
    assert result.exit_code == 0, result.output
    assert f"Progress rebuilt: 3 of {len(STEPS)} steps pass" in result.stderr
    rebuilt = state_json(ws)
    assert [rebuilt["steps"].get(s.id, {}).get("passed", False) for s in STEPS] == [True] * 3 + [False] * (len(STEPS) - 3)
    assert rebuilt["steps"]["02"]["hash"] == sha(ws / "exercises" / "step_02.py")
    assert rebuilt["current"] == 4
    assert f"3 of {len(STEPS)} steps passed" in result.stdout


# --- locking --------------------------------------------------------------------------------------

@pytest.mark.parametrize("command", ["check", "open", "hint", "watch"])
def test_locked_steps_refuse_without_force(ws: Path, command: str) -> None:
    result = cli(command, "05", "-w", ws)
    assert result.exit_code == 2, result.output
    assert stderr_lines(result) == [line for line in stderr_lines(result) if "locked" in line]
    assert len(stderr_lines(result)) == 1 and "step 04" in result.stderr


def test_a_locked_steps_lesson_can_be_read_as_in_the_book(ws: Path) -> None:
    """`show` reads any step's lesson, as the book does, and says what a locked one waits for; its hints stay
    locked in both (the book's page of a locked step holds none)."""
    result = cli("show", "05", "-w", ws)
    assert result.exit_code == 0, result.output
    assert "Step 05 is locked: pass step 04 first" in result.stdout and "gpt2tutor check 04" in result.stdout
    assert get_step(5).title in result.stdout
    assert "is locked" not in cli("show", "05", "--force", "-w", ws).stdout
    assert cli("book", "--no-open", "-w", ws).exit_code == 0
    page = (ws / ".gpt2tutor" / "book" / "step_05.html").read_text()
    assert '<details class="hint"' not in page and "This step is locked" in page
    assert '<details class="hint"' in (ws / ".gpt2tutor" / "book" / "step_01.html").read_text()


def test_the_generation_step_waits_for_every_earlier_step(ws: Path) -> None:
    last = by_role("generation")
    assert [s for s in STEPS if s.waits_for_all] == [last]
    state = State()
    for step in STEPS[:STEPS.index(last)]:
        if step.number != 7:
            state.mark(step, True, "x")
    save(Workspace(ws), state)
    result = cli("open", last.id, "-w", ws)
    assert result.exit_code == 2 and "07" in result.stderr
    assert cli("open", last.id, "--force", "-w", ws).exit_code == 0
    state.mark(STEPS[6], True, "x")
    save(Workspace(ws), state)
    assert cli("open", last.id, "-w", ws).exit_code == 0


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

PAST_THE_END = str(len(STEPS) + 1)  # a step number the course does not have

BAD_INPUTS = [
    ("check past the end", lambda ws: ["check", PAST_THE_END, "-w", ws]),
    ("check 0", lambda ws: ["check", "0", "-w", ws]),
    ("check abc", lambda ws: ["check", "abc", "-w", ws]),
    ("check ../x", lambda ws: ["check", "../x", "-w", ws]),
    ("check absolute path", lambda ws: ["check", str(ws / "exercises" / "step_04.py"), "-w", ws]),
    ("check empty", lambda ws: ["check", "", "-w", ws]),
    ("check step_NN past the end", lambda ws: ["check", f"step_{PAST_THE_END}", "-w", ws]),
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
    ("reset past the end", lambda ws: ["reset", PAST_THE_END, "--yes", "-w", ws]),
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


def test_after_an_earlier_step_regresses_the_current_step_is_that_one(ws: Path) -> None:
    """Pass 01-07, then break 07: the current step is 07 again (the first not passed), never locked 08."""
    workspace = Workspace(ws.resolve())
    seven = get_step(7)
    for step in STEPS[:7]:
        (ws / "exercises" / step.filename).write_text(step.solution())
    state = State()
    for step in STEPS[:6]:
        state.mark(step, True, workspace.file_hash(step))
    save(workspace, state)
    assert cli("check", "07", "-w", ws).exit_code == 0
    assert state_json(ws)["current"] == 8

    (ws / "exercises" / seven.filename).write_text(seven.skeleton())  # step 07 regresses
    assert cli("check", "07", "-w", ws).exit_code == 1
    assert state_json(ws)["current"] == 7
    marked = [line for line in cli("list", "-w", ws).stdout.splitlines() if "▶" in line]
    assert len(marked) == 1 and " 07 " in marked[0] and "locked" not in marked[0], marked
    bare = cli("check", "--json", "-w", ws)  # the current step, checked: 07 again, not "08 is locked"
    assert bare.exit_code == 1, bare.output
    assert {r["step"] for r in json.loads(bare.stdout)} == {"07"}


# --- real processes: Ctrl-C and watch ---------------------------------------------------------------
# Started through tests/processes.py: SIGINT at its default action whatever this process inherited,
# and every process the tutor started killed on the way out, pass or fail.

def test_ctrl_c_during_check_exits_130_and_records_nothing(ws: Path) -> None:
    (ws / "exercises" / STEP.filename).write_text("import time\ntime.sleep(60)\n")
    before = (ws / ".gpt2tutor" / "state.json").read_bytes()
    with tutor("check", "04", "--force", cwd=ws) as proc:
        seen: list[str] = []
        read_until(proc, "Checking step 04", seen, timeout=60)
        wait_until(lambda: descendants(proc), 30, "the check process")
        time.sleep(1.0)  # the learner's file is being imported
        interrupt(proc)
        code, output = finish(proc, timeout=30, seen=seen)
        assert code == 130, output
        assert "Traceback" not in output
        assert output.rstrip().endswith("Interrupted: nothing was recorded."), output  # said once, last
        assert not left_behind(proc), "a process outlived `check` after Ctrl-C"
    assert (ws / ".gpt2tutor" / "state.json").read_bytes() == before


def test_watch_rechecks_on_save_and_stops_on_ctrl_c(ws: Path) -> None:
    """Ctrl-C while watch waits for a save, holding its spare check process ready."""
    exercise = ws / "exercises" / STEP.filename
    with tutor("watch", "04", "--force", "--poll", cwd=ws) as proc:
        seen: list[str] = []
        read_until(proc, "does not pass yet", seen, timeout=120)
        read_until(proc, "save it to re-check", seen, timeout=60)
        exercise.write_text(STEP.solution())
        read_until(proc, "step 04 passes", seen, timeout=120)
        read_until(proc, "move on", seen, timeout=60)
        assert state_json(ws)["steps"]["04"]["passed"] is True
        wait_until(lambda: descendants(proc), 60, "watch's spare check process")
        interrupt(proc)
        code, output = finish(proc, timeout=30, seen=seen)
        assert code == 130, output
        assert "Traceback" not in output
        assert not left_behind(proc), "a process outlived `watch` after Ctrl-C"


def test_ctrl_c_during_a_watch_recheck_leaves_no_process(ws: Path) -> None:
    """Ctrl-C while a re-check runs learner code that sleeps: watch exits 130 and its check process goes."""
    exercise = ws / "exercises" / STEP.filename
    started = ws / "started"
    with tutor("watch", "04", "--force", "--poll", cwd=ws) as proc:
        seen: list[str] = []
        read_until(proc, "save it to re-check", seen, timeout=120)
        wait_until(lambda: descendants(proc), 60, "watch's spare check process")
        exercise.write_text(f"import time\nopen({str(started)!r}, 'w').close()\ntime.sleep(120)\n")
        wait_until(started.exists, 60, "the re-check to import the learner's file")
        interrupt(proc)
        code, output = finish(proc, timeout=30, seen=seen)
        assert code == 130, output
        assert "Traceback" not in output
        assert not left_behind(proc), "the check process outlived `watch` after Ctrl-C"


def test_watch_shows_hints_on_a_key_press_and_restores_the_terminal(ws: Path) -> None:
    """On a terminal (a pty here) `h` alone, without Enter, shows the next tier; the terminal's settings come back."""
    import pty
    import termios

    master, slave = pty.openpty()
    before = termios.tcgetattr(slave)
    try:
        with tutor("watch", "04", "--force", "--poll", cwd=ws, stdin=slave) as proc:
            seen: list[str] = []
            read_until(proc, "press h for a hint", seen, 120)
            assert not termios.tcgetattr(slave)[3] & termios.ICANON, "watch did not put the terminal in cbreak mode"
            os.write(master, b"h")
            read_until(proc, "hint 1 of 3: nudge", seen, 120)
            os.write(master, b"h")
            read_until(proc, "hint 2 of 3: concept", seen, 120)
            assert state_json(ws)["steps"]["04"]["hints_used"] == 2
            interrupt(proc)
            code, output = finish(proc, timeout=30, seen=seen)
            assert code == 130, output
            assert "Traceback" not in output
            assert termios.tcgetattr(slave) == before, "the terminal's settings were not restored"
    finally:
        os.close(master)
        os.close(slave)


def test_hints_go_up_to_four_tiers_with_their_names(ws: Path) -> None:
    seven = get_step(7)
    assert len(seven.hints) == 4
    names = []
    for used in range(1, 5):
        result = cli("hint", "07", "--force", "-w", ws)
        assert result.exit_code == 0, result.output
        assert f"hint {used} of 4: {seven.hint_labels[used - 1]}" in result.stdout
        names.append(seven.hint_labels[used - 1])
    assert names[0] == "nudge" and names[-1] == "near-solution"
    assert state_json(ws)["steps"]["07"]["hints_used"] == 4
    row = next(line for line in cli("list", "-w", ws).stdout.splitlines() if "Multi-head attention" in line)
    assert "4/4" in row


def test_hint_debugging_shows_the_guide_anywhere(tmp_path: Path) -> None:
    result = cli("hint", "--debugging", env={"GPT2TUTOR_WORKSPACE": str(tmp_path / "none")})
    assert result.exit_code == 0, result.output
    assert "Debugging in MAX" in result.stdout and "to_numpy()" in result.stdout and "F.lazy()" in result.stdout


def test_an_internal_error_is_one_line_pointing_at_a_bug_report(ws: Path, monkeypatch) -> None:
    import gpt2tutor.cli.list as list_command

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(list_command, "overview", broken)
    result = cli("list", "-w", ws)
    assert result.exit_code == 1
    assert len(stderr_lines(result)) == 1 and "internal error" in result.stderr and "bug" in result.stderr
    assert "Traceback" not in result.output


def test_an_upgrade_that_adds_a_step_puts_its_skeleton_in_and_keeps_generate(tmp_path: Path) -> None:
    """A workspace of the course before its last step (every file there, every step passed): the first command
    puts the new step's skeleton in, the passes stay, and generate stays unlocked."""
    from test_generate import make_workspace

    from gpt2tutor import api

    last = STEPS[-1]
    ws = make_workspace(tmp_path / "ws", passed=len(STEPS) - 1)
    (ws / "exercises" / last.filename).unlink()
    result = cli("list", "--json", "-w", ws)
    assert result.exit_code == 0, result.output
    statuses = {s["step"]: s["status"] for s in json.loads(result.stdout)["steps"]}
    assert statuses.pop(last.id) == "todo" and set(statuses.values()) == {"passed"}
    assert (ws / "exercises" / last.filename).read_text() == last.skeleton()
    api.open(ws).require_generation("generate")  # raises when locked
