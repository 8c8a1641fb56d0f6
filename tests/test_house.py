"""The course's rules without MAX: what unlocks what, the current step, and rebuilding progress by
re-checking (with a stand-in checker); plus the house rules a change must keep (no import circles, no import
from a higher layer (LAYERS), the registry importing nothing of the tutor, no module over 400 lines and the api
face under 150, no step-number gate outside the registry, MAX's private modules behind one module) and the front door
(a fresh clone plus `gpt2tutor start` leaves the clone clean)."""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gpt2tutor import progress
from gpt2tutor.checking.results import Result, StepOutcome
from gpt2tutor.maxenv import child_environment
from gpt2tutor.registry import STEPS, following, get_step, prerequisites
from gpt2tutor.state import State
from gpt2tutor.workspace import Workspace

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "gpt2tutor"
LAST = STEPS[-1]
WAITS = next(s for s in STEPS if s.waits_for_all)  # a step that unlocks when every earlier one passes
BEFORE_WAITS = STEPS[: STEPS.index(WAITS)]


def passed_state(*ids: str) -> State:
    state = State()
    for sid in ids:
        state.mark(get_step(sid), True, "hash")
    return state


def ids(steps) -> list[str]:
    return [s.id for s in steps]


# --- the registry's rules -----------------------------------------------------------------------------

def test_each_step_waits_for_the_one_before_or_for_all() -> None:
    assert prerequisites(STEPS[0]) == ()
    for before, step in zip(STEPS, STEPS[1:]):
        expected = STEPS[: step.number - 1] if step.waits_for_all else (before,)
        assert prerequisites(step) == expected
    assert prerequisites(WAITS) == BEFORE_WAITS
    assert following(LAST) is None and following(STEPS[0]) == STEPS[1]


def test_unlocking_follows_the_registry() -> None:
    state = State()
    assert ids(s for s in STEPS if state.unlocked(s)) == ["01"]
    state = passed_state("01", "02", "03")
    assert state.unlocked(get_step(4)) and not state.unlocked(get_step(5))
    every_but_one = passed_state(*[s.id for s in BEFORE_WAITS if s.id != "05"])
    assert not every_but_one.unlocked(get_step(6))  # 06 waits for 05
    assert every_but_one.unlocked(get_step(7))  # 07 waits for 06 alone
    assert ids(every_but_one.blockers(WAITS)) == ["05"]
    assert not every_but_one.unlocked(WAITS)
    assert passed_state(*[s.id for s in BEFORE_WAITS]).unlocked(WAITS)


def test_a_step_is_unlocked_by_its_prerequisites_only() -> None:
    state = passed_state("01", "03")
    assert ids(state.blockers(get_step(3))) == ["02"]
    assert state.unlocked(get_step(4))


def test_the_current_step_is_the_first_not_passed() -> None:
    assert State().current == STEPS[0]
    state = passed_state(*[s.id for s in STEPS[:7]])
    assert state.current.id == "08"
    state.mark(get_step(7), False, None)  # 07 regresses: the current step goes back to it
    assert state.current.id == "07" and state.unlocked(state.current)
    assert passed_state(*[s.id for s in STEPS]).current == LAST
    assert State.from_json(state.to_json()).current.id == "07"


# --- rebuilding progress by re-checking, with a stand-in checker ---------------------------------------

class FakeChecker:
    """Runs 'checks' whose verdicts are given per step, honouring stop_before as the runner does."""

    def __init__(self, verdicts: dict[str, bool]):
        self.verdicts = verdicts
        self.checked: list[str] = []

    def __call__(self, ws, steps, *, on_result=None, stop_before=None, **_) -> list[StepOutcome]:
        outcomes = []
        for step in steps:
            if stop_before is not None and stop_before(step):
                break
            self.checked.append(step.id)
            result = Result(step.id, "behaviour", "works", self.verdicts.get(step.id, False))
            if on_result is not None:
                on_result(result)
            outcomes.append(StepOutcome(step, [result], file_hash=f"hash-{step.id}"))
        return outcomes


def test_a_rebuild_from_nothing_stops_at_the_first_failing_step(tmp_path: Path) -> None:
    checker = FakeChecker({"01": True, "02": True, "03": True, "04": False, "05": True})
    state, outcomes = progress.rebuild(Workspace(tmp_path), State(), checker=checker)
    assert checker.checked == ["01", "02", "03", "04"]  # 05 is locked by 04
    assert ids(s for s in STEPS if state.record(s).passed) == ["01", "02", "03"]
    assert state.current.id == "04"
    assert [o.passed for o in outcomes] == [True, True, True, False]
    assert state.record(get_step(1)).hash == "hash-01"


def test_a_rebuild_rechecks_every_step_that_was_unlocked_and_keeps_the_hints(tmp_path: Path) -> None:
    old = passed_state("01", "02", "03", "04", "05", "06")
    old.record(get_step(3)).hints_used = 2
    checker = FakeChecker({"01": True, "02": True, "03": False, "04": True, "05": True, "06": True, "07": False})
    state, _ = progress.rebuild(Workspace(tmp_path), old, checker=checker)
    assert checker.checked == ["01", "02", "03", "04", "05", "06", "07"]  # 04-07 were unlocked before
    assert ids(s for s in STEPS if state.record(s).passed) == ["01", "02", "04", "05", "06"]
    assert state.record(get_step(3)).hints_used == 2
    assert state.current.id == "03"


def test_a_forced_rebuild_checks_everything_and_a_step_waiting_for_all_still_waits(tmp_path: Path) -> None:
    verdicts = {s.id: True for s in STEPS}
    verdicts["05"] = False
    checker = FakeChecker(verdicts)
    state, _ = progress.rebuild(Workspace(tmp_path), State(), checker=checker, force=True)
    assert checker.checked == ids(STEPS)
    assert state.record(WAITS).passed and not state.unlocked(WAITS)  # passed when forced, yet 05 blocks it


def test_steps_a_rebuild_never_reaches_keep_their_old_record(tmp_path: Path) -> None:
    old = State()
    old.record(get_step(9)).hints_used = 3
    checker = FakeChecker({"01": False})
    state, _ = progress.rebuild(Workspace(tmp_path), old, checker=checker)
    assert checker.checked == ["01"]
    assert state.record(get_step(9)).hints_used == 3 and not state.record(get_step(9)).passed


def test_edited_files_are_reachable_for_the_warm_up(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    ws.copy_skeletons()
    ws.exercise(get_step(9)).write_text("# mine\n")
    assert ids(progress.reachable(ws, State())) == ["01", "09"]
    assert ids(progress.reachable(ws, State(), force=True)) == ids(STEPS)


# --- house rules ---------------------------------------------------------------------------------------

def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _type_only(tree: ast.AST) -> set[int]:
    """The nodes under `if TYPE_CHECKING:`: imports for annotations, which never run."""
    skipped = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(inner) for part in node.body for inner in ast.walk(part))
    return skipped


def _targets(name: str, path: Path) -> set[str]:
    """What the module `name` imports anywhere in its file (function-level imports too, annotations' not): the
    modules, with package modules named in full, and each name taken from one (`pkg.mod.Name`)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text("utf-8"))
    skipped = _type_only(tree)
    targets = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            targets.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(node.level - 1):
                base = base.rpartition(".")[0]
            module = ".".join(p for p in (base if node.level else "", node.module or "") if p)
            targets.add(module)
            targets.update(f"{module}.{a.name}" for a in node.names)  # a module, or a name the module holds
    return targets


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The package modules `name` imports."""
    return {t for t in _targets(name, path) if t in known and t != name}


def test_the_package_has_no_import_circles() -> None:
    modules = _modules()
    graph = {name: _imports(name, path, set(modules)) for name, path in modules.items()}
    # a package's __init__ importing its own submodules is its face, not a circle
    graph = {n: {t for t in ts if not (t.startswith(n + ".") and modules[n].name == "__init__.py")}
             for n, ts in graph.items()}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                raise AssertionError("import circle: " + " -> ".join(stack[stack.index(target):] + [target]))
            if target not in state:
                visit(target)
        stack.pop()
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name)


# The layers of the package, bottom to top: a module imports from its own layer and the ones below, never from
# one above. Each layer lists module prefixes ("gpt2tutor.checking" holds gpt2tutor.checking.*); a module takes
# the layer of its longest prefix. Moving a module means moving its name here (a prefix that names no module
# yet, e.g. an api module still being written, is harmless).
LAYERS = (
    ("the registry and leaf helpers", ("gpt2tutor", "gpt2tutor.registry", "gpt2tutor.errors", "gpt2tutor.events",
                                       "gpt2tutor.files", "gpt2tutor.frames", "gpt2tutor.quiet", "gpt2tutor.processes",
                                       "gpt2tutor.maxinternals", "gpt2tutor.maxenv", "gpt2tutor.installation",
                                       "gpt2tutor.kernels", "gpt2tutor.names", "gpt2tutor.durations",
                                       "gpt2tutor.device")),
    ("the workspace and its state", ("gpt2tutor.workspace", "gpt2tutor.state")),
    ("the check toolkit", ("gpt2tutor.checking",)),
    ("the course's checks", ("gpt2tutor.course",)),
    ("the capabilities", ("gpt2tutor.progress", "gpt2tutor.migration", "gpt2tutor.generation", "gpt2tutor.serving",
                          "gpt2tutor.graphs", "gpt2tutor.background", "gpt2tutor.background_report",
                          "gpt2tutor.waiting", "gpt2tutor.book", "gpt2tutor.devcheck")),
    ("the api modules", ("gpt2tutor.statefile", "gpt2tutor.compiled", "gpt2tutor.stepcheck", "gpt2tutor.tutor",
                         "gpt2tutor.opening", "gpt2tutor.generating", "gpt2tutor.doctor", "gpt2tutor.fullcache",
                         "gpt2tutor.serve")),
    ("the api face", ("gpt2tutor.api",)),
    ("the command line", ("gpt2tutor.cli", "gpt2tutor.__main__")),
)


def _layer(module: str) -> int | None:
    """The index in LAYERS of the module's longest prefix (None: in no layer)."""
    found = [(len(prefix), i) for i, (_, prefixes) in enumerate(LAYERS) for prefix in prefixes
             if module == prefix or (prefix != "gpt2tutor" and module.startswith(prefix + "."))]
    return max(found)[1] if found else None


def test_no_module_imports_from_a_higher_layer() -> None:
    modules = _modules()
    unplaced = sorted(name for name in modules if _layer(name) is None)
    assert not unplaced, f"{unplaced} in no layer: add each to LAYERS in tests/test_house.py, where it belongs"
    arrows = []
    for name, path in sorted(modules.items()):
        here = _layer(name)
        for target in sorted(_imports(name, path, set(modules))):
            there = _layer(target)
            if there > here:
                arrows.append(f"{name} ({LAYERS[here][0]}) -> {target} ({LAYERS[there][0]})")
    assert not arrows, "imports from a higher layer:\n" + "\n".join(arrows)


def test_the_layer_rule_can_fail() -> None:
    assert _layer("gpt2tutor.checking.child") == 2 and _layer("gpt2tutor.cli.check") == len(LAYERS) - 1
    assert _layer("gpt2tutor.api") > _layer("gpt2tutor.progress") > _layer("gpt2tutor.course.checks.check_01")
    assert _layer("gpt2tutor") == 0 and _layer("gpt2tutor.nowhere") is None


def test_the_registry_imports_nothing_of_the_tutor() -> None:
    modules = _modules()
    assert _imports("gpt2tutor.registry", modules["gpt2tutor.registry"], set(modules)) == set()


MAX_LINES, FACE_LINES = 400, 150  # a module a maintainer reads whole; the api face, which only re-exports


def test_no_module_is_too_long_to_read_whole() -> None:
    lines = {str(p.relative_to(ROOT)): len(p.read_text("utf-8").splitlines()) for p in PACKAGE.rglob("*.py")}
    long = {path: n for path, n in lines.items() if n > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines (split them by job): {long}"
    face = len((PACKAGE / "api.py").read_text("utf-8").splitlines())
    assert face < FACE_LINES, f"gpt2tutor/api.py has {face} lines: the face re-exports, under {FACE_LINES}"


STEP_NUMBER_IN_TEXT = re.compile(r"\b(?:steps?[_ -]?|check_)0?\d{1,2}\b(?![.]\d)", re.I)
STEP_NUMBER_IN_CODE = re.compile(r"get_step\(\s*[\"']?\d|STEPS\[\s*[1-9]|\.number\s*[=!<>]=?\s*\d|current\s*[=!]=\s*\d")
ARGUMENT_FORMS = "7, 07 or step_07"  # how a step argument may be written: an example of the syntax, no step's number


def _code_outside_the_course():
    """(path, line, text) of every code token and string (docstrings and comments left out) of the package
    outside the course folder."""
    import io
    import tokenize

    for path in PACKAGE.rglob("*.py"):
        if (PACKAGE / "course") in path.parents:
            continue
        text = path.read_text("utf-8")
        tree = ast.parse(text)
        docstrings = {n.body[0].lineno for n in ast.walk(tree)
                      if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                      and n.body and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type == tokenize.COMMENT or (tok.type == tokenize.STRING and tok.start[0] in docstrings):
                continue
            yield path, tok.start[0], tok.string, tok.type


def test_no_step_number_outside_the_course_data() -> None:
    """The course data (gpt2tutor/course/) numbers the steps; the tutor's code finds them by role, name or
    order, and its messages take numbers from the data."""
    import tokenize

    found = []
    for path, lineno, text, kind in _code_outside_the_course():
        if kind == tokenize.STRING and STEP_NUMBER_IN_TEXT.search(text.replace(ARGUMENT_FORMS, "")):
            found.append(f"{path.relative_to(ROOT)}:{lineno} {text[:80]}")
    lines = {}
    for path in PACKAGE.rglob("*.py"):
        if (PACKAGE / "course") not in path.parents:
            for lineno, line in enumerate(path.read_text("utf-8").splitlines(), 1):
                code = line.split("#")[0]
                if STEP_NUMBER_IN_CODE.search(code):
                    lines[f"{path.relative_to(ROOT)}:{lineno}"] = line.strip()
    assert not found and not lines, f"step numbers outside the course data: {found} {lines}"


def test_the_step_number_rules_can_fail() -> None:
    assert STEP_NUMBER_IN_TEXT.search("'unlocks once steps 12-13 pass'")
    assert STEP_NUMBER_IN_TEXT.search('"step_14.py"') and STEP_NUMBER_IN_TEXT.search("f'check_07'")
    assert not STEP_NUMBER_IN_TEXT.search("'steps {span(STEPS)}'") and not STEP_NUMBER_IN_TEXT.search("'step {s.id}'")
    assert STEP_NUMBER_IN_CODE.search("x = get_step(12)") and STEP_NUMBER_IN_CODE.search("STEPS[12]")


def _package_imports() -> dict[str, set[str]]:
    """Every module of the package and what it imports (see _targets)."""
    return {name: _targets(name, path) for name, path in _modules().items()}


def test_rich_and_typer_only_in_the_command_line() -> None:
    for name, targets in _package_imports().items():
        if name.startswith("gpt2tutor.cli"):
            continue
        terminal = sorted(t for t in targets if t.split(".")[0] in ("rich", "typer"))
        assert not terminal, f"{name} imports {terminal}: only gpt2tutor.cli draws on the terminal"


def test_the_command_line_imports_only_the_api_and_the_registry() -> None:
    allowed = ("gpt2tutor.api", "gpt2tutor.registry", "gpt2tutor.names", "gpt2tutor.cli")  # names: for --help, no api
    for name, targets in _package_imports().items():
        if not name.startswith("gpt2tutor.cli"):
            continue
        tutor = sorted(t for t in targets if t.split(".")[0] == "gpt2tutor" and t != "gpt2tutor")
        wrong = [t for t in tutor if not any(t == a or t.startswith(a + ".") for a in allowed)
                 or t.startswith("gpt2tutor.course")]
        assert not wrong, f"{name} imports {wrong}: the command line uses gpt2tutor.api, gpt2tutor.registry and gpt2tutor.names only"


def test_the_course_imports_nothing_of_the_tutor_but_the_check_toolkit() -> None:
    for name, targets in _package_imports().items():
        if not name.startswith("gpt2tutor.course"):
            continue
        tutor = sorted(t for t in targets if t.split(".")[0] == "gpt2tutor")
        wrong = [t for t in tutor if not t.startswith(("gpt2tutor.checking", "gpt2tutor.course"))]
        assert not wrong, f"{name} imports {wrong}: the course may use the check toolkit (gpt2tutor.checking) only"


def test_the_api_drives_a_fresh_workspace_without_a_terminal(tmp_path: Path) -> None:
    """A script opens a workspace, fails and passes step 01, and reads the results as data: neither rich nor
    typer is ever imported."""
    code = textwrap.dedent("""
        import json, sys
        from gpt2tutor import api
        started = api.start(sys.argv[1])
        tutor = started.tutor
        first = tutor.check("01")
        (tutor.exercises / "step_01.py").write_text(tutor.solution("01"))
        seen = []
        second = tutor.check("01", on_event=seen.append)
        print(json.dumps({"first": first.passed, "second": second.passed, "results": len(second.results),
                          "events": sorted({type(e).__name__ for e in seen}),
                          "names": [r.name for r in second.results][:2],
                          "status": [s.status for s in tutor.statuses()][:2],
                          "terminal": sorted(m for m in ("rich", "typer") if m in sys.modules)}))
    """)
    env = {**child_environment(), "GPT2TUTOR_KERNELS": "0"}
    env.pop("GPT2TUTOR_WORKSPACE", None)
    run = subprocess.run([sys.executable, "-c", code, str(tmp_path / "ws")], capture_output=True, text=True,
                         timeout=180, env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["first"] is False and out["second"] is True and out["results"] >= 3
    assert "Result" in out["events"] and out["status"] == ["passed", "todo"]
    assert out["terminal"] == []


def test_max_private_modules_are_imported_from_one_module() -> None:
    private = re.compile(r"\bmax\._\w+")
    for path in PACKAGE.rglob("*.py"):
        if path.name == "maxinternals.py":
            continue
        text = path.read_text("utf-8")
        assert not private.search(text), f"{path.relative_to(ROOT)} names MAX's private modules: use maxinternals"


def test_every_process_the_package_starts_gets_an_explicit_environment() -> None:
    """Inherited, the C environment carries what MAX's runtime set behind os.environ (maxenv.child_environment)."""
    starters = {"Popen", "run", "call", "check_call", "check_output"}
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in starters
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "subprocess"):
                assert any(k.arg == "env" for k in node.keywords), (
                    f"{path.relative_to(ROOT)}:{node.lineno} starts a process without env=: "
                    "pass env=maxenv.child_environment()")


def test_the_core_imports_neither_max_nor_rich() -> None:
    code = ("import sys; import gpt2tutor.progress, gpt2tutor.state, gpt2tutor.course, gpt2tutor.workspace; "
            "print(sorted(m for m in ('max', 'rich', 'numpy', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True,
                         env=child_environment())
    assert out.stdout.strip() == "[]"


def test_help_shows_no_type_beside_a_flag() -> None:
    from typer.testing import CliRunner

    from gpt2tutor.cli import app

    result = CliRunner().invoke(app, ["check", "--help"], env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert result.exit_code == 0 and "--all" in result.stdout
    assert "<bool>" not in result.stdout


# --- the front door --------------------------------------------------------------------------------------

@pytest.mark.skipif(shutil.which("git") is None or sys.version_info < (3, 11), reason="needs git and python -P")
def test_start_in_a_fresh_clone_leaves_it_clean_and_says_welcome(tmp_path: Path) -> None:
    if subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True).returncode != 0:
        pytest.skip("not a git checkout")
    clone = tmp_path / "gpt2tutor"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True, timeout=120)
    env = {"NO_COLOR": "1", "COLUMNS": "200", "GPT2TUTOR_KERNELS": "0", "PATH": "/usr/bin:/bin",
           "HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    # -P: the installed tutor, not the clone's copy that `python -c` would put first on the path
    start = [sys.executable, "-P", "-c", "from gpt2tutor.cli import main; main()", "start"]
    run = subprocess.run(start, cwd=clone, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "Welcome to gpt2tutor" in run.stdout and "Welcome back" not in run.stdout
    assert "gpt2-workspace" in run.stdout
    assert (clone / "gpt2-workspace" / "exercises" / "step_01.py").is_file()
    status = subprocess.run(["git", "-C", str(clone), "status", "--porcelain", "--ignored=no"],
                            capture_output=True, text=True, check=True).stdout
    assert status == "", f"the clone is not clean after start:\n{status}"
    again = subprocess.run(start, cwd=clone, env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and "Welcome back" not in again.stdout  # no progress yet: still a welcome


def test_welcome_back_is_for_a_workspace_with_progress(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from gpt2tutor.cli import app
    from gpt2tutor.state import save

    runner = CliRunner()
    env = {"NO_COLOR": "1", "COLUMNS": "200", "GPT2TUTOR_WORKSPACE": None}
    first = runner.invoke(app, ["start", str(tmp_path / "ws")], env=env)
    assert first.exit_code == 0 and "Welcome to gpt2tutor" in first.stdout
    save(Workspace((tmp_path / "ws").resolve()), passed_state("01"))
    again = runner.invoke(app, ["start", str(tmp_path / "ws")], env=env)
    assert again.exit_code == 0 and "Welcome back" in again.stdout
