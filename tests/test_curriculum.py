"""The course holds together, proved by the real `gpt2tutor dev check`: every step's files exist, and its check
tells the skeleton from the answer.

Run this whenever MAX (or anything else) moves. One `gpt2tutor dev check --json` runs for the session (the
command CI runs too); the tests below read its report, step by step. For every step of the course data:
- the skeleton, lesson, reference and check module exist, and no step file lies outside the course data;
- the lesson has text and three or four non-empty hint tiers, each with a name, the last a near-solution;
- every name of the step's contract exists in its reference;
- no lesson links to MAX's old documentation address;
- the skeleton is valid Python that imports cleanly, defines the reference's public names with the
  same signatures, and FAILS its check through a check (not by crashing or timing out),
  with every other step holding the reference solution;
- the reference solution PASSES its check (all of them checked in one child process);
- a step whose checks run MAX ops has its kernel batch in kernels.json, its variants in tests/variants/step_NN
  and its row in the README's step table (tests/test_new_step.py adds a step and sees each rule fail).
And `dev check` fails, naming the step, when a reference is broken.

The checks draw random cases from the suite's seed (GPT2TUTOR_TEST_SEED); failures name it.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gpt2tutor.devcheck import signatures
from gpt2tutor.maxenv import child_environment
from gpt2tutor.registry import STEPS, Step

CRASH = "the checks ran to the end"  # the name the runner gives a crash or a time-out
IDS = [s.id for s in STEPS]
PACKAGE = Path(__file__).resolve().parents[1] / "gpt2tutor"
DEV_CHECK = [sys.executable, "-c", "from gpt2tutor.cli import main; main()", "dev", "check", "--json"]


# --- helpers -------------------------------------------------------------------------------------


def report(outcome: dict, step: str) -> str:
    lines = [f"checks of step {step}:"]
    for r in outcome["results"]:
        lines.append(f"  [{r['phase']}] {r['name']}: {'ok' if r['passed'] else 'FAIL'}")
        if r["message"] and not r["passed"]:
            lines += ["      " + line for line in r["message"].splitlines()]
    if not outcome["results"]:
        lines.append("  (no results: the checks never ran)")
    return "\n".join(lines)


def run_dev_check(*args: str, env: dict | None = None, cwd: Path | None = None) -> tuple[int, dict]:
    done = subprocess.run([*DEV_CHECK, *args], capture_output=True, text=True, timeout=1800,
                          env={**child_environment(), **(env or {})}, cwd=cwd)
    assert done.stdout.strip(), done.stderr
    return done.returncode, json.loads(done.stdout.strip().splitlines()[-1])


# --- the one run, shared between tests ---------------------------------------------------------------


@pytest.fixture(scope="session")
def course() -> dict:
    """`gpt2tutor dev check --json` on the whole course: its exit code and report."""
    code, found = run_dev_check()
    found["exit_code"] = code
    return found


def problems(course: dict, step: str, *words: str) -> list[str]:
    return [p["what"] for p in course["problems"] if p["step"] == step and all(w in p["what"] for w in words)]


def test_dev_check_passes_on_the_course(course: dict) -> None:
    assert course["problems"] == [] and course["ok"] and course["exit_code"] == 0, course["problems"]
    assert course["steps"] == IDS
    assert course["notes"] == []  # run from this clone: the rules on tests/variants/ and the README ran too


def test_dev_check_fails_when_a_reference_is_broken(tmp_path: Path) -> None:
    """A copy of the package whose step-01 reference gets GPT-2's width wrong: dev check exits 1 and names it."""
    copy = tmp_path / "site" / "gpt2tutor"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    reference = copy / "course" / "reference" / "step_01.py"
    source = reference.read_text()
    broken = source.replace("n_embd: int = 768", "n_embd: int = 769")
    assert broken != source
    reference.write_text(broken)
    code, found = run_dev_check("01", env={"PYTHONPATH": str(copy.parent)}, cwd=tmp_path)
    assert code == 1 and not found["ok"], found
    assert [p["step"] for p in found["problems"]] == ["01"], found["problems"]
    assert "the reference fails its check" in found["problems"][0]["what"]
    assert ["skipped" in n for n in found["notes"]] == [True]  # a copy without tests/: said, not failed


# --- the registry and the files --------------------------------------------------------------------


def test_steps_are_numbered_in_order():
    assert [s.number for s in STEPS] == list(range(1, len(STEPS) + 1))
    assert all(s.title.strip() for s in STEPS)
    assert len({s.title for s in STEPS}) == len(STEPS), "two steps share a title"


def test_no_step_files_outside_the_course_data(course: dict):
    """A file for a step the course data doesn't list would never be shown or checked."""
    assert problems(course, "") == []


@pytest.mark.parametrize("step", STEPS, ids=IDS)
def test_files_exist(step: Step, course: dict):
    assert problems(course, step.id, "missing") == [] and problems(course, step.id, "registers") == []
    assert problems(course, step.id, "StepChecks") == []


@pytest.mark.parametrize("step", STEPS, ids=IDS)
def test_contract_names_exist_in_the_reference(step: Step, course: dict):
    assert step.contract, f"course.toml gives step {step.id} no contract"
    assert problems(course, step.id, "contract") == []


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


@pytest.mark.parametrize("step", STEPS, ids=IDS)
def test_lesson_links_point_to_max_docs_new_address(step: Step):
    text = "\n".join([step.lesson, *step.hints])
    assert "docs.modular.com" not in text, f"step {step.id} links to docs.modular.com; MAX's docs moved to max.modular.com"
    old = re.findall(r"modular\.com/\S*(?:api/python/experimental\.|/generated/)\S*", text)
    assert not old, f"step {step.id} links to MAX's docs under their old paths: {old}"


# --- skeletons ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("step", STEPS, ids=IDS)
def test_skeleton_has_the_reference_names_and_signatures(step: Step):
    skeleton = signatures(step.skeleton(), f"skeletons/{step.filename}")
    reference = signatures(step.solution(), f"reference/{step.filename}")
    missing = sorted(set(reference) - set(skeleton))
    assert not missing, f"the skeleton of step {step.id} lacks {missing}, which the reference defines"
    differ = [f"{n}: skeleton {skeleton[n]}, reference {reference[n]}" for n in reference if skeleton[n] != reference[n]]
    assert not differ, f"the skeleton of step {step.id} and the reference disagree:\n" + "\n".join(differ)


@pytest.mark.parametrize("step", STEPS, ids=IDS)
def test_skeleton_imports_cleanly(step: Step, course: dict):
    outcome = course["skeletons"][step.id]
    assert outcome["results"], report(outcome, step.id)
    first = outcome["results"][0]
    assert first["phase"] == "file" and first["passed"], (
        f"the skeleton of step {step.id} must be valid Python that imports (its failure belongs in a later "
        f"phase)\n{report(outcome, step.id)}"
    )


@pytest.mark.parametrize("step", STEPS, ids=IDS)
def test_skeleton_fails_its_check(step: Step, course: dict):
    outcome = course["skeletons"][step.id]
    assert not outcome["passed"], f"the shipped skeleton of step {step.id} passes its check\n{report(outcome, step.id)}"
    failure = next(r for r in outcome["results"] if not r["passed"])
    assert failure["phase"] != "file", f"the skeleton fails only by not importing\n{report(outcome, step.id)}"
    assert failure["name"] != CRASH, f"the skeleton crashed or hung the check process\n{report(outcome, step.id)}"
    assert failure["message"].strip(), f"the failure tells the learner nothing\n{report(outcome, step.id)}"


# --- reference solutions -------------------------------------------------------------------------------


@pytest.mark.parametrize("step", STEPS, ids=IDS)
def test_reference_solution_passes_its_check(step: Step, course: dict):
    outcome = course["references"][step.id]
    assert outcome["passed"], f"the reference solution fails its own check\n{report(outcome, step.id)}"
    phases = {r["phase"] for r in outcome["results"]}
    assert {"file", "placeholders"} <= phases, f"some phases never ran\n{report(outcome, step.id)}"
