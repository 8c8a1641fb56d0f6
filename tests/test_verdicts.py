"""What a check may record, and how soon: a failure that is no verdict on the step's own file (another file
failed first, or the time limit ended it) leaves the progress as it was; the time limit names the learner's
line that was running; `watch` stops a running check when the file is saved again, and checks the new one.
Through the real CLI: CliRunner in-process, and `watch` as a real process (tests/processes.py)."""

from __future__ import annotations

import json
import textwrap
import time
from pathlib import Path

from processes import finish, interrupt, read_until, tutor, wait_until
from test_cli import cli, state_json, ws  # noqa: F401 - ws is a fixture

from gpt2tutor.registry import STEPS, get_step
from gpt2tutor.state import State, save
from gpt2tutor.workspace import Workspace

WATCH_RECHECK_LIMIT = 30  # seconds from a save during a check to the new version's verdict (docs/guarantees.md)
TIME_LIMIT = 8  # seconds, given as --timeout


def passed_up_to(ws: Path, last: int) -> None:
    """Steps 01..`last` solved and recorded as passed: step `last` + 1 is the current one."""
    workspace = Workspace(ws.resolve())
    state = State()
    for step in STEPS[:last]:
        workspace.exercise(step).write_text(step.solution())
        state.mark(step, True, workspace.file_hash(step))
    save(workspace, state)


def statuses(ws: Path) -> dict[str, str]:
    result = cli("list", "--json", "-w", ws)
    assert result.exit_code == 0, result.output
    return {s["step"]: s["status"] for s in json.loads(result.stdout)["steps"]}


def looping_mlp(entered: Path) -> tuple[str, int]:
    """A step-04 file whose forward says it started (a file), then never ends; and the loop's line number."""
    source = textwrap.dedent(f"""\
        from max.experimental.nn import Linear, Module

        class GPT2MLP(Module):
            def __init__(self, intermediate_size, config):
                self.c_fc = Linear(config.n_embd, intermediate_size)
                self.c_proj = Linear(intermediate_size, config.n_embd)

            def forward(self, x):
                open({str(entered)!r}, "w").close()
                while True: pass
        """)
    return source, source.splitlines().index("        while True: pass") + 1


def test_a_broken_earlier_file_leaves_the_later_step_passed_and_the_next_open(ws: Path) -> None:
    """Steps 01-05 pass, 06 is current; a syntax error in step_01.py, then `check 05`: the check names
    step_01.py and records nothing, so 05 stays passed and 06 open; fixed, everything is as before."""
    passed_up_to(ws, 5)
    first = ws / "exercises" / STEPS[0].filename
    first.write_text(STEPS[0].solution() + "\ndef broken(:\n    pass\n")

    result = cli("check", "05", "-w", ws)
    assert result.exit_code == 1, result.output
    assert "step_01.py" in result.output and "was not judged" in result.output, result.output
    assert "step 05 stays passed and step 06 open" in result.output, result.output
    assert state_json(ws)["steps"]["05"]["passed"] is True and state_json(ws)["current"] == 6
    found = statuses(ws)
    assert found["05"] == "passed" and found["06"] == "todo" and found["01"] == "changed", found

    first.write_text(STEPS[0].solution())
    assert statuses(ws) == {**found, "01": "passed"}


def test_the_time_limit_names_the_line_and_leaves_the_step_passed(ws: Path) -> None:
    """Step 04 passed, then its forward loops forever: the time limit's message names the learner's line that
    was running, and records nothing (04 stays passed, changed since; 05 stays open)."""
    passed_up_to(ws, 4)
    source, line = looping_mlp(ws / "entered")
    (ws / "exercises" / get_step(4).filename).write_text(source)

    result = cli("check", "04", "--json", "--timeout", TIME_LIMIT, "-w", ws)
    assert result.exit_code == 1, result.output
    failure = next(r for r in json.loads(result.stdout) if not r["passed"])
    assert "did not finish within" in failure["message"], failure
    assert f"step_04.py, line {line}, in forward\n    while True: pass" in failure["message"], failure["message"]
    assert state_json(ws)["steps"]["04"]["passed"] is True and state_json(ws)["current"] == 5
    found = statuses(ws)
    assert found["04"] == "changed" and found["05"] == "todo", found


def test_a_save_during_a_looping_check_gets_its_verdict_within_seconds(ws: Path) -> None:
    """`watch` with a time limit of 10 minutes, a forward that loops: saving the fixed file stops that check,
    and the fixed version's verdict comes within WATCH_RECHECK_LIMIT seconds of the save."""
    four = get_step(4)
    entered = ws / "entered"
    exercise = ws / "exercises" / four.filename
    exercise.write_text(looping_mlp(entered)[0])
    with tutor("watch", four.id, "--force", "--poll", "--timeout", "600", cwd=ws) as proc:
        seen: list[str] = []
        wait_until(entered.exists, 120, "the check to run the looping forward")
        exercise.write_text(four.solution())
        saved = time.monotonic()
        read_until(proc, f"step {four.id} passes", seen, timeout=WATCH_RECHECK_LIMIT)
        assert time.monotonic() - saved <= WATCH_RECHECK_LIMIT
        assert any("Saved again while the check ran" in line for line in seen), "".join(seen)
        interrupt(proc)
        code, output = finish(proc, timeout=30, seen=seen)
        assert code == 130, output


def read_until_said(proc, text: str, seen: list[str], timeout: float) -> None:
    """Reads the tutor's stdout until it has said `text`, however its lines wrapped."""
    deadline = time.monotonic() + timeout
    while text not in " ".join(" ".join(seen).split()):
        left = deadline - time.monotonic()
        assert left > 0, f"never said {text!r}:\n{''.join(seen)}\n{''.join(proc.err)}"
        read_until(proc, "", seen, timeout=left)  # one more line


def test_watch_names_q_and_h_again_in_its_footers(ws: Path) -> None:
    """Off a terminal keys are lines: the footer says to type h, or q, and Enter; a hint's footer says to
    type h again (not to run `gpt2tutor hint`), and q ends the watch."""
    four = get_step(4)
    with tutor("watch", four.id, "--force", "--poll", cwd=ws) as proc:
        seen: list[str] = []
        read_until_said(proc, "type q and Enter (or Ctrl-C) to stop.", seen, timeout=120)
        proc.stdin.write("h\n")
        proc.stdin.flush()
        read_until_said(proc, "Still stuck? Type h and Enter again for the next tier", seen, timeout=60)
        assert not any(f"gpt2tutor hint {four.id}` again" in line for line in seen), "".join(seen)
        proc.stdin.write("q\n")
        proc.stdin.flush()
        code, output = finish(proc, timeout=30, seen=seen)
        assert code == 0, output
