"""The front door: what a new learner meets first. `gpt2tutor` alone, `--version`, `python -m gpt2tutor`, the
grouped root help (and how little it loads), metavars and environment variables in every --help, a bad
$GPT2TUTOR_TIMEOUT, `doctor --json`, `watch` on a polled file system, and the shape of the README's two
commands (.ci/run runs them for real, verbatim, in a fresh clone)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from processes import finish, interrupt, read_until, tutor
from typer.testing import CliRunner

from gpt2tutor import api
from gpt2tutor.cli import COMMANDS, HIDDEN, MODULE_OF, PANELS, app, build_app
from gpt2tutor.maxenv import child_environment
from gpt2tutor.registry import get_step

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
ENV = {"GPT2TUTOR_WORKSPACE": None, "GPT2TUTOR_TIMEOUT": None, "COLUMNS": "200", "NO_COLOR": "1",
       "GPT2TUTOR_DEBUG": None}
runner = CliRunner()


def cli(*args, env: dict | None = None):
    return runner.invoke(app, [str(a) for a in args], env={**ENV, **(env or {})})


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    assert cli("start", root).exit_code == 0
    return root


def run(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 120):
    full = {**child_environment(), "NO_COLOR": "1", "COLUMNS": "200", **(env or {})}
    full.pop("GPT2TUTOR_WORKSPACE", None)
    return subprocess.run([*args], cwd=cwd, env=full, capture_output=True, text=True, timeout=timeout)


# --- `gpt2tutor` alone: where you are ---------------------------------------------------------------------

def test_alone_without_a_workspace_says_how_to_start(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = cli()
    assert result.exit_code == 0, result.output
    assert "gpt2tutor start" in result.stdout and "gpt2tutor --help" in result.stdout
    assert len(lines(result.stdout)) == 1 and not result.stderr


def test_alone_in_a_workspace_shows_the_steps_and_the_next_one(ws: Path, monkeypatch) -> None:
    monkeypatch.chdir(ws / "exercises")
    result = cli()
    assert result.exit_code == 0, result.output
    first = get_step(1)
    assert first.title in result.stdout and get_step(2).title in result.stdout  # the step table
    assert f"Next: step {first.id}" in result.stdout and f"gpt2tutor check {first.id}" in result.stdout
    # the same from anywhere, through the environment
    monkeypatch.chdir(ws.parent)
    assert f"Next: step {first.id}" in cli(env={"GPT2TUTOR_WORKSPACE": str(ws)}).stdout


def test_alone_with_a_workspace_variable_that_is_wrong_is_an_error(tmp_path: Path) -> None:
    result = cli(env={"GPT2TUTOR_WORKSPACE": str(tmp_path / "nowhere")})
    assert result.exit_code == 2 and len(lines(result.stderr)) == 1, result.output
    assert result.stderr.startswith("gpt2tutor: error: ")


# --- version, python -m ----------------------------------------------------------------------------------

def test_version() -> None:
    result = cli("--version")
    assert result.exit_code == 0 and result.stdout.strip() == f"gpt2tutor {api.__version__}"


def test_python_dash_m_is_the_same_command_line(tmp_path: Path) -> None:
    help_run = run(sys.executable, "-m", "gpt2tutor", "--help", cwd=tmp_path)
    assert help_run.returncode == 0, help_run.stderr
    assert "Usage: gpt2tutor " in help_run.stdout and "Learning" in help_run.stdout
    version = run(sys.executable, "-m", "gpt2tutor", "--version", cwd=tmp_path)
    assert version.returncode == 0 and version.stdout.strip() == f"gpt2tutor {api.__version__}", version.stderr
    alone = run(sys.executable, "-m", "gpt2tutor", cwd=tmp_path)
    assert alone.returncode == 0 and "gpt2tutor start" in alone.stdout, alone.stderr


@pytest.mark.skipif(shutil.which("gpt2tutor") is None, reason="the console script is not on PATH")
def test_the_console_script_says_its_version(tmp_path: Path) -> None:
    result = run("gpt2tutor", "--version", cwd=tmp_path)
    assert result.returncode == 0 and result.stdout.strip() == f"gpt2tutor {api.__version__}", result.stderr


# --- the help ----------------------------------------------------------------------------------------------

def test_the_help_table_names_every_command_once_with_its_module() -> None:
    """PANELS (the root help, written without importing the commands) against what the modules register."""
    registered = {}
    for module in COMMANDS:
        group = typer.main.get_command(build_app([module]))
        for name in group.list_commands(None):
            group.get_command(None, name)
        registered.update({name: module for name in group.commands})
    assert registered == MODULE_OF
    listed = [name for _, rows in PANELS for name, _, _ in rows]
    assert len(listed) == len(set(listed)) and set(listed) | set(HIDDEN) == set(registered)


def test_the_help_groups_commands_and_shows_examples() -> None:
    result = cli("--help")
    assert result.exit_code == 0, result.output
    text = result.stdout
    sections = [line.rstrip(":") for line in text.splitlines() if line and not line.startswith(" ")
                and line.endswith(":")]
    assert sections == ["Learning", "Your model", "Setup", "Options", "Examples", "Environment"], sections
    for panel, rows in PANELS:
        body = text.split(f"\n{panel}:\n", 1)[1].split("\n\n", 1)[0]
        assert [line.split()[0] for line in lines(body)] == [name for name, _, _ in rows], body
    assert "dev" not in re.findall(r"^\s+(\w+)\s", text, re.M)  # maintainers' commands stay hidden
    assert "gpt2tutor start" in text.split("Examples:")[1]
    assert "GPT2TUTOR_TIMEOUT" in text.split("Environment:")[1]


def _every_help() -> list[list[str]]:
    names = [name for _, rows in PANELS for name, _, _ in rows]
    return [[], *[[name] for name in names], ["dev"], ["dev", "check"]]


@pytest.mark.parametrize("command", _every_help(), ids=lambda c: " ".join(c) or "gpt2tutor")
def test_every_help_shows_metavars_not_types(command: list[str]) -> None:
    result = cli(*command, "--help")
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert not re.search(r"<(str|int|float|bool|path|text|int range|float range)>", text), text
    assert not re.search(r"\{[A-Za-z_]+\}", text), text  # `{NN}`, `{PROMPT}`: Typer's mark of a required argument
    assert not re.search(r"\bNN\s+<", text), text


@pytest.mark.parametrize("command,variables", [
    ("check", ["GPT2TUTOR_TIMEOUT", "GPT2TUTOR_WORKSPACE"]),
    ("watch", ["GPT2TUTOR_TIMEOUT", "GPT2TUTOR_WORKSPACE"]),
    ("list", ["GPT2TUTOR_WORKSPACE"]),
    ("show", ["GPT2TUTOR_WORKSPACE"]),
    ("hint", ["GPT2TUTOR_WORKSPACE"]),
    ("doctor", ["GPT2TUTOR_WORKSPACE"]),
])
def test_the_variables_a_command_reads_are_in_its_help(command: str, variables: list[str]) -> None:
    text = cli(command, "--help").stdout
    for variable in variables:
        assert f"env var: {variable}" in text, text


@pytest.mark.parametrize("value", ["abc", "0", "-5", "90s"])
def test_a_bad_timeout_variable_is_one_line_and_exit_2(ws: Path, value: str) -> None:
    result = cli("check", "-w", ws, env={"GPT2TUTOR_TIMEOUT": value})
    assert result.exit_code == 2, result.output
    assert len(lines(result.stderr)) == 1 and "GPT2TUTOR_TIMEOUT" in result.stderr, result.stderr
    assert "Traceback" not in result.output


def test_a_good_timeout_variable_is_used(ws: Path) -> None:
    """A file that never finishes is stopped at the variable's limit, not the default's (120 s)."""
    (ws / "exercises" / get_step(1).filename).write_text("while True:\n    pass\n")
    result = cli("check", "01", "--json", "-w", ws, env={"GPT2TUTOR_TIMEOUT": "3"})
    assert result.exit_code == 1, result.output
    failed = [r for r in json.loads(result.stdout) if not r["passed"]]
    assert failed and "did not finish within 3 s" in failed[-1]["message"], result.output


def test_start_dir_wins_over_the_workspace_variable(tmp_path: Path) -> None:
    """`start DIR` with $GPT2TUTOR_WORKSPACE naming another folder makes DIR (the variable is the default)."""
    other = tmp_path / "other"
    assert cli("start", other).exit_code == 0
    result = cli("start", tmp_path / "mine", env={"GPT2TUTOR_WORKSPACE": str(other)})
    assert result.exit_code == 0, result.output
    assert (tmp_path / "mine" / "exercises" / get_step(1).filename).is_file()


# --- what --help loads, and how fast -------------------------------------------------------------------------

HELP_IMPORTS = ("import sys\nfrom gpt2tutor.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit as e:\n"
                "    code = e.code\nloaded = [m for m in {names!r} if m in sys.modules]\n"
                "print('LOADED=' + ','.join(loaded), 'CODE=%s' % code)\n")
NOT_FOR_HELP = ("gpt2tutor.api", "gpt2tutor.cli.render", "rich", "markdown_it", "pygments", "importlib.metadata",
                "max", "numpy", "torch", "transformers")


def test_the_help_loads_only_what_it_shows() -> None:
    out = run(sys.executable, "-c", HELP_IMPORTS.format(names=NOT_FOR_HELP)).stdout
    assert "LOADED= CODE=0" in out, out


# --- doctor --json -------------------------------------------------------------------------------------------

def test_doctor_json_is_one_object_with_the_background_process(ws: Path) -> None:
    result = cli("doctor", "--json", "-w", ws)
    assert result.exit_code in (0, 1), result.output
    report = json.loads(result.stdout)
    assert isinstance(report, dict)
    assert isinstance(report["background"], dict) and set(report["background"]) >= {"running", "task"}
    assert isinstance(report["background"]["running"], bool)
    task = report["background"]["task"]
    assert task is None or isinstance(task, str)
    assert report["findings"] and all(set(f) == {"mark", "what", "value"} for f in report["findings"])
    assert {f["what"] for f in report["findings"]} >= {"Python", "MAX"}
    assert result.exit_code == (1 if report["problems"] else 0)


# --- watch on a polled file system ---------------------------------------------------------------------------

STEP = get_step(1)


@pytest.mark.parametrize("how", [
    {"WATCHFILES_FORCE_POLLING": "1"},  # watchfiles polls (as it does by itself on WSL)
    {"WATCHFILES_FORCE_POLLING": "1", "WATCHFILES_POLL_DELAY_MS": "3600000"},  # no event ever comes: the content check
], ids=["polled", "no-events"])
def test_watch_sees_a_save_on_a_polled_file_system(ws: Path, how: dict) -> None:
    exercise = ws / "exercises" / STEP.filename
    with tutor("watch", STEP.id, cwd=ws, env=how) as proc:
        seen: list[str] = []
        read_until(proc, "does not pass yet", seen, timeout=120)
        read_until(proc, "save it to re-check", seen, timeout=60)
        exercise.write_text(STEP.solution())
        read_until(proc, f"step {STEP.id} passes", seen, timeout=120)  # never, where no save is seen
        interrupt(proc)
        code, output = finish(proc, timeout=30, seen=seen)
        assert code == 130, output


# --- the README's commands, for real -----------------------------------------------------------------------

def readme_commands() -> list[str]:
    """The README's ```bash blocks of one line, in order: the first installs and starts, the second tests."""
    blocks = re.findall(r"```bash\n(.*?)\n```", README.read_text(), re.S)
    return [block.strip() for block in blocks if "\n" not in block.strip()]


def test_the_readme_starts_with_its_two_commands() -> None:
    first, second = readme_commands()[:2]
    assert "python3 -m venv" in first and first.endswith("gpt2tutor start"), first
    assert "python3 -m venv" in second and "torch==2.13.0" in second and second.endswith("python -m pytest"), second
    assert "torch==2.13.0" in (ROOT / "docs" / "CONTRIBUTING.md").read_text()
    assert README.read_text().count("\n") <= 120  # a README for learners: the figures are in docs/
