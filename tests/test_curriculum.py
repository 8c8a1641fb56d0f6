"""The curriculum holds together: every step's files exist, and its check tells the skeleton from the answer.

Run this whenever MAX (or anything else) moves. For every step in gpt2tutor.curriculum.STEPS:
- the skeleton, lesson, reference and check module exist, and no step file lies outside the registry;
- the lesson has text and three or four non-empty hint tiers, each with a name, the last a near-solution;
- the lessons of steps 09-11 hand over none of their reference's lines (only the last hint tier may);
- no lesson links to MAX's old documentation address;
- the skeleton is valid Python that imports cleanly, defines the reference's public names with the
  same signatures, and FAILS its check through a check (not by crashing or timing out),
  with every other step holding the reference solution;
- the reference solution PASSES its check (all of them checked in one child process).

The checks draw random cases from a seed: GPT2TUTOR_TEST_SEED picks it (default 0), and failures name it.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import os
import re
from importlib import resources

import pytest

from conftest import write_solutions
from gpt2tutor.checking import StepChecks
from gpt2tutor.checking.results import StepOutcome
from gpt2tutor.checking.runner import run_checks
from gpt2tutor.curriculum import STEPS, Step

SEED = int(os.environ.get("GPT2TUTOR_TEST_SEED", "0"))
CRASH = "the checks ran to the end"  # the name the runner gives a crash or a time-out
IDS = [s.id for s in STEPS]
_STEP_FILE = re.compile(r"^(?:step|check)_(\d\d)\.(?:py|md)$")


# --- helpers -------------------------------------------------------------------------------------


def has_check_module(step: Step) -> bool:
    try:
        return importlib.util.find_spec(step.check_module) is not None
    except ModuleNotFoundError:
        return False


def report(outcome: StepOutcome) -> str:
    lines = [f"checks of step {outcome.step.id} (seed {SEED}):"]
    for r in outcome.results:
        lines.append(f"  [{r.phase}] {r.name}: {'ok' if r.passed else 'FAIL'}")
        if r.message and not r.passed:
            lines += ["      " + line for line in r.message.splitlines()]
    if not outcome.results:
        lines.append("  (no results: the checks never ran)")
    return "\n".join(lines)


def signatures(source: str, filename: str) -> dict[str, str]:
    """Public top-level functions and classes, and the public methods (plus __init__) of those classes,
    each with its parameters: names, kinds and defaults (annotations left out)."""
    tree = ast.parse(source, filename)
    found: dict[str, str] = {}

    def params(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
        a = fn.args
        positional = a.posonlyargs + a.args
        defaults = [None] * (len(positional) - len(a.defaults)) + list(a.defaults)
        parts = [p.arg + (f"={ast.unparse(d)}" if d is not None else "") for p, d in zip(positional, defaults)]
        if a.posonlyargs:
            parts.insert(len(a.posonlyargs), "/")
        if a.vararg:
            parts.append("*" + a.vararg.arg)
        elif a.kwonlyargs:
            parts.append("*")
        parts += [p.arg + (f"={ast.unparse(d)}" if d is not None else "") for p, d in zip(a.kwonlyargs, a.kw_defaults)]
        if a.kwarg:
            parts.append("**" + a.kwarg.arg)
        return "(" + ", ".join(parts) + ")"

    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not node.name.startswith("_"):
            found[node.name] = "def " + params(node)
        elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            found[node.name] = "class"
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and (
                    item.name == "__init__" or not item.name.startswith("_")
                ):
                    found[f"{node.name}.{item.name}"] = "def " + params(item)
    return found


# --- the runs, shared between tests ------------------------------------------------------------------


@pytest.fixture(scope="session")
def solution_outcomes(tmp_path_factory) -> dict[str, StepOutcome]:
    """All reference solutions checked together, in one child process (the steps with a check module)."""
    exercises = tmp_path_factory.mktemp("solutions") / "exercises"
    write_solutions(exercises)
    steps = [s for s in STEPS if has_check_module(s)]
    return {o.step.id: o for o in run_checks(steps, exercises, seed=SEED)} if steps else {}


@pytest.fixture(scope="session")
def skeleton_outcome(tmp_path_factory):
    """The shipped skeleton of one step checked with every other step solved; one run per step, cached."""
    cache: dict[str, StepOutcome] = {}

    def get(step: Step) -> StepOutcome:
        if step.id not in cache:
            if not has_check_module(step):
                pytest.fail(f"{step.check_module} does not exist, so nothing checks step {step.id}")
            skeleton = step.skeleton()  # FileNotFoundError when it is missing: that test fails too
            exercises = tmp_path_factory.mktemp(f"skeleton_{step.id}") / "exercises"
            write_solutions(exercises)
            (exercises / step.filename).write_text(skeleton, encoding="utf-8")
            cache[step.id] = run_checks([step], exercises, seed=SEED)[0]
        return cache[step.id]

    return get


# --- the registry and the files --------------------------------------------------------------------


def test_steps_are_numbered_in_order():
    assert [s.number for s in STEPS] == list(range(1, len(STEPS) + 1))
    assert all(s.title.strip() for s in STEPS)
    assert len({s.title for s in STEPS}) == len(STEPS), "two steps share a title"


def test_no_step_files_outside_the_registry():
    """A file for a step the registry doesn't list would never be shown or checked."""
    known = set(IDS)
    stray = []
    for package in ("gpt2tutor.exercises", "gpt2tutor.lessons", "gpt2tutor.reference", "gpt2tutor.checks"):
        for entry in resources.files(package).iterdir():
            match = _STEP_FILE.match(entry.name)
            if match and match.group(1) not in known:
                stray.append(f"{package}/{entry.name}")
    assert not stray, f"files for steps not in STEPS: {stray}"


@pytest.mark.parametrize("step", STEPS, ids=IDS)
def test_files_exist(step: Step):
    missing = []
    for package, name in [
        ("gpt2tutor.exercises", step.filename),
        ("gpt2tutor.lessons", f"{step.module}.md"),
        ("gpt2tutor.reference", step.filename),
    ]:
        if not resources.files(package).joinpath(name).is_file():
            missing.append(f"{package}/{name}")
    if not has_check_module(step):
        missing.append(step.check_module)
    assert not missing, f"step {step.id} lacks: {', '.join(missing)}"

    checks = getattr(importlib.import_module(step.check_module), "checks", None)
    assert isinstance(checks, StepChecks), f"{step.check_module} must define `checks = StepChecks()`"
    assert checks.structure_checks or checks.behaviour_checks, f"{step.check_module} registers no checks"


@pytest.mark.parametrize("step", STEPS, ids=IDS)
def test_lesson_has_text_and_three_or_four_hint_tiers(step: Step):
    assert step.lesson.strip(), f"the lesson of step {step.id} is empty"
    assert "\n## Hints\n" not in step.lesson
    hints = step.hints
    assert len(hints) in (3, 4), f"step {step.id} has {len(hints)} hint tiers under '## Hints', expected 3 or 4"
    empty = [i + 1 for i, h in enumerate(hints) if not h.strip()]
    assert not empty, f"hint tier(s) {empty} of step {step.id} are empty"
    labels = step.hint_labels
    assert len(labels) == len(hints) and all(labels), f"every hint tier of step {step.id} needs a '### N. Name' heading"
    assert labels[0] == "nudge" and labels[-1] == "near-solution", labels


def code_lines(source: str) -> set[str]:
    """The reference's non-trivial code, normalized (no whitespace, no `self.`): every statement line that is not
    an import, a def, a class or a docstring, and the expression it assigns or returns, when that is a call."""
    found = set()
    tree = ast.parse(source)
    docstrings = {id(n.body[0]) for n in ast.walk(tree) if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef))
                  and n.body and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
    for node in ast.walk(tree):
        if not isinstance(node, ast.stmt) or id(node) in docstrings:
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef, ast.If, ast.For)):
            continue
        pieces = [ast.unparse(node)]
        value = getattr(node, "value", None)
        if isinstance(value, ast.Call):
            pieces.append(ast.unparse(value))
        for piece in pieces:
            normalized = re.sub(r"\s+", "", piece).replace("self.", "")
            if len(normalized) >= 20:
                found.add(normalized)
    return found


@pytest.mark.parametrize("step", [s for s in STEPS if 9 <= s.number <= 11], ids=lambda s: s.id)
def test_lesson_hands_over_no_reference_line(step: Step):
    """The lesson gives the contract; the code is left to the learner until the last hint tier."""
    reference = resources.files("gpt2tutor.reference").joinpath(step.filename).read_text("utf-8")
    taught = re.sub(r"\s+", "", "\n".join([step.lesson, *step.hints[:-1]])).replace("self.", "")
    handed = sorted(line for line in code_lines(reference) if line in taught)
    assert not handed, f"the lesson or early hints of step {step.id} contain reference code: {handed}"


def test_code_lines_finds_a_handed_over_line():
    """The test above can fail: a lesson quoting a reference line is caught, with or without `self.`."""
    lines = code_lines("class A:\n    def f(self, x):\n        self.h = Sequential(*(Block(c) for _ in range(n)))\n")
    assert "Sequential(*(Block(c)for_inrange(n)))" in lines
    assert "h=Sequential(*(Block(c)for_inrange(n)))" in lines


@pytest.mark.parametrize("step", STEPS, ids=IDS)
def test_lesson_links_point_to_max_docs_new_address(step: Step):
    text = "\n".join([step.lesson, *step.hints])
    assert "docs.modular.com" not in text, f"step {step.id} links to docs.modular.com; MAX's docs moved to max.modular.com"


# --- skeletons ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("step", STEPS, ids=IDS)
def test_skeleton_has_the_reference_names_and_signatures(step: Step):
    skeleton = signatures(step.skeleton(), f"exercises/{step.filename}")
    reference = signatures(step.solution(), f"gpt2tutor/reference/{step.filename}")
    missing = sorted(set(reference) - set(skeleton))
    assert not missing, f"the skeleton of step {step.id} lacks {missing}, which the reference defines"
    differ = [f"{n}: skeleton {skeleton[n]}, reference {reference[n]}" for n in reference if skeleton[n] != reference[n]]
    assert not differ, f"the skeleton of step {step.id} and the reference disagree:\n" + "\n".join(differ)


@pytest.mark.parametrize("step", STEPS, ids=IDS)
def test_skeleton_imports_cleanly(step: Step, skeleton_outcome):
    outcome = skeleton_outcome(step)
    assert outcome.results, report(outcome)
    first = outcome.results[0]
    assert first.phase == "file" and first.passed, (
        f"the skeleton of step {step.id} must be valid Python that imports (its failure belongs in a later "
        f"phase)\n{report(outcome)}"
    )


@pytest.mark.parametrize("step", STEPS, ids=IDS)
def test_skeleton_fails_its_check(step: Step, skeleton_outcome):
    outcome = skeleton_outcome(step)
    assert not outcome.passed, f"the shipped skeleton of step {step.id} passes its check\n{report(outcome)}"
    failure = next(r for r in outcome.results if not r.passed)
    assert failure.phase != "file", f"the skeleton fails only by not importing\n{report(outcome)}"
    assert failure.name != CRASH, f"the skeleton crashed or hung the check process\n{report(outcome)}"
    assert failure.message.strip(), f"the failure tells the learner nothing\n{report(outcome)}"


# --- reference solutions -------------------------------------------------------------------------------


@pytest.mark.parametrize("step", STEPS, ids=IDS)
def test_reference_solution_passes_its_check(step: Step, solution_outcomes):
    if step.id not in solution_outcomes:
        pytest.fail(f"{step.check_module} does not exist, so nothing checks step {step.id}")
    outcome = solution_outcomes[step.id]
    assert outcome.passed, f"the reference solution fails its own check\n{report(outcome)}"
    phases = {r.phase for r in outcome.results}
    assert {"file", "placeholders"} <= phases, f"some phases never ran\n{report(outcome)}"
