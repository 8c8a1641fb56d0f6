"""`gpt2tutor dev check`: proof that the course holds together, as rustlings' `dev check` proves its own.

For every step of course.toml (or the ones asked for):
- its lesson, skeleton, reference and check module exist, and no step file lies outside the course data;
- the lesson has text and three or four non-empty hint tiers, named, from a nudge to a near-solution;
- every name of its contract exists in its reference (`Class.method` for a method), and the skeleton
  defines the reference's public names with the same signatures;
- the skeleton FAILS its check, through a check (not by failing to import, crashing or timing out), with
  every other step holding the reference solution;
- the reference solution PASSES its check (all of them in one check process);
- a step whose checks run MAX ops has its kernel batch in kernels.json (or would compile its kernels while
  the learner waits); and, run from a clone, it has learner variants in tests/variants/step_NN and a row in the
  README's step table (an installed copy has neither folder nor README: those two rules are skipped, and said so).
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from . import kernels, registry
from .events import OnEvent, StepSettled, ignore
from .registry import STEPS, Step

CRASH = "the checks ran to the end"  # the name the runner gives a crash or a time-out
_STEP_FILE = re.compile(r"^(?:step|check)_(\d\d)\.(?:py|md)$")
CLONE = Path(__file__).resolve().parents[1]  # the repository, when the tutor runs from a clone
VARIANTS = "tests/variants"  # a folder per step of learners' mistakes its check must catch (tests/test_variants.py)
README_STEPS = "The steps"  # the README's section whose table has a row for every step


@dataclass(frozen=True)
class Problem:
    step: str  # the step's id, or "" for the course as a whole
    what: str


@dataclass
class CourseReport:
    steps: list[str]
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # rules that could not run here, and why
    skeletons: dict = field(default_factory=dict)  # step id -> its skeleton's StepOutcome
    references: dict = field(default_factory=dict)  # step id -> its reference's StepOutcome

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict:
        def outcome(o) -> dict:
            return {"passed": o.passed, "results": [r.to_json() for r in o.results]}

        return {"ok": self.ok, "steps": self.steps, "problems": [vars(p) for p in self.problems], "notes": self.notes,
                "skeletons": {k: outcome(v) for k, v in self.skeletons.items()},
                "references": {k: outcome(v) for k, v in self.references.items()}}


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


def _files(step: Step, problems: list[Problem]) -> bool:
    """Whether the step's four files exist (a Problem for each that doesn't)."""
    root = resources.files(registry.COURSE)
    missing = [name for name in (step.lesson_file, f"skeletons/{step.filename}", f"reference/{step.filename}")
               if not root.joinpath(name).is_file()]
    try:
        has_check = importlib.util.find_spec(step.check_module) is not None
    except ModuleNotFoundError:
        has_check = False
    if not has_check:
        missing.append(f"checks/check_{step.id}.py")
    for name in missing:
        problems.append(Problem(step.id, f"{name} is missing"))
    if has_check:
        from .checking import StepChecks

        checks = getattr(importlib.import_module(step.check_module), "checks", None)
        if not isinstance(checks, StepChecks):
            problems.append(Problem(step.id, f"checks/check_{step.id}.py must define `checks = StepChecks()`"))
        elif not (checks.structure_checks or checks.behaviour_checks):
            problems.append(Problem(step.id, f"checks/check_{step.id}.py registers no checks"))
    return not missing


def _lesson(step: Step, problems: list[Problem]) -> None:
    if not step.lesson.strip():
        problems.append(Problem(step.id, "the lesson is empty"))
    hints, labels = step.hints, step.hint_labels
    if len(hints) not in (3, 4):
        problems.append(Problem(step.id, f"{len(hints)} hint tiers under '## Hints', expected 3 or 4"))
    empty = [i + 1 for i, h in enumerate(hints) if not h.strip()]
    if empty:
        problems.append(Problem(step.id, f"hint tier(s) {empty} are empty"))
    if hints and (len(labels) != len(hints) or not all(labels)
                  or labels[0] != "nudge" or labels[-1] != "near-solution"):
        problems.append(Problem(step.id, f"hint tiers need '### N. Name' headings from Nudge to Near-solution, "
                                         f"not {list(labels)}"))


def _contract(step: Step, problems: list[Problem]) -> None:
    if not step.contract:
        problems.append(Problem(step.id, "course.toml gives it no contract"))
    reference = step.reference()
    for name in step.contract:
        owner = reference
        for part in name.split("."):
            owner = getattr(owner, part, None)
            if owner is None:
                problems.append(Problem(step.id, f"its contract names {name}, which the reference does not define"))
                break
    skeleton = signatures(step.skeleton(), f"skeletons/{step.filename}")
    answer = signatures(step.solution(), f"reference/{step.filename}")
    for name in sorted(set(answer) - set(skeleton)):
        problems.append(Problem(step.id, f"the skeleton lacks {name}, which the reference defines"))
    for name in answer:
        if name in skeleton and skeleton[name] != answer[name]:
            problems.append(Problem(step.id, f"{name}: the skeleton says {skeleton[name]}, the reference {answer[name]}"))


def _stray(problems: list[Problem]) -> None:
    known = {s.id for s in STEPS}
    root = resources.files(registry.COURSE)
    for folder in ("lessons", "skeletons", "reference", "checks"):
        for entry in root.joinpath(folder).iterdir():
            match = _STEP_FILE.match(entry.name)
            if match and match.group(1) not in known:
                problems.append(Problem("", f"{folder}/{entry.name} belongs to no step of course.toml"))


def _kernels(step: Step, batches: set[str], problems: list[Problem]) -> None:
    if step.kernels and step.kernel_batch not in batches:
        problems.append(Problem(step.id, f"kernels = true, but kernels.json has no batch {step.kernel_batch!r}: run "
                                         f"`python tools/record_kernels.py {VARIANTS}`, or give it an earlier step's "
                                         "batch (batch = \"NN\"), or set kernels = false if its checks run no MAX op"))


def _clone_rules(steps: Sequence[Step], report: CourseReport) -> None:
    """The rules on the clone's files outside the package: each step's variants folder and README row."""
    if not (CLONE / "tests").is_dir():
        report.notes.append(f"not run from a clone (no tests/ beside {CLONE / 'gpt2tutor'}): the rules on "
                            f"{VARIANTS}/ and README.md were skipped")
        return
    readme = CLONE / "README.md"
    table = registry.section(readme.read_text("utf-8"), README_STEPS) if readme.is_file() else ""
    rows = [line.strip("|").split("|") for line in table.splitlines() if line.startswith("|")]
    cells = {cell.strip() for row in rows for cell in row}
    for step in steps:
        if not any((CLONE / VARIANTS / step.module).glob("*.py")):
            report.problems.append(Problem(step.id, f"{VARIANTS}/{step.module}/ holds no variant: add learners' "
                                                    "mistakes its check must catch (tests/test_variants.py runs them)"))
        if step.id not in cells:
            report.problems.append(Problem(step.id, f"README.md's table under '## {README_STEPS}' has no row for it "
                                                    f"(a cell '{step.id}')"))


def _write(exercises: Path, skeleton_of: Step | None = None) -> None:
    exercises.mkdir(parents=True, exist_ok=True)
    for s in STEPS:
        text = s.skeleton() if s == skeleton_of else s.solution()
        (exercises / s.filename).write_text(text, encoding="utf-8")


def check_course(steps: Sequence[Step] | None = None, *, seed: int | None = None, timeout: float | None = None,
                 on_event: OnEvent = ignore) -> CourseReport:
    """Proves the course (or the steps given) whole; the report lists every problem found."""
    from .checking.runner import SpareChecker, run_checks

    steps = list(steps or STEPS)
    report = CourseReport([s.id for s in steps])
    if len(steps) == len(STEPS):
        _stray(report.problems)
    _clone_rules(steps, report)
    batch_names = {b.name for b in kernels.batches()}
    runnable = []
    for step in steps:
        _kernels(step, batch_names, report.problems)
        if _files(step, report.problems):
            _lesson(step, report.problems)
            _contract(step, report.problems)
            runnable.append(step)
    with tempfile.TemporaryDirectory(prefix="gpt2tutor-devcheck-") as tmp:
        solved = Path(tmp) / "solutions" / "exercises"
        _write(solved)
        for outcome in run_checks(runnable, solved, seed=seed, timeout=timeout):
            step = outcome.step
            report.references[step.id] = outcome
            phases = {r.phase for r in outcome.results}
            failure = next((r for r in outcome.results if not r.passed), None)
            if failure is not None:
                report.problems.append(Problem(step.id, f"the reference fails its check: {failure.name}: "
                                                        f"{' '.join(failure.message.split())[:300]}"))
            elif not {"file", "placeholders"} <= phases:
                report.problems.append(Problem(step.id, "the reference's checks never reached every phase"))
            on_event(StepSettled(step.id, f"{step.title}: the reference passes its check", outcome.passed))
        exercises = Path(tmp) / "skeletons" / "exercises"  # one folder: the next check process starts ahead
        with SpareChecker(exercises, ahead=True) as checker:
            for step in runnable:
                _write(exercises, skeleton_of=step)
                outcome = report.skeletons[step.id] = checker.run([step], seed=seed, timeout=timeout)[0]
                failure = next((r for r in outcome.results if not r.passed), None)
                if failure is None:
                    report.problems.append(Problem(step.id, "the skeleton passes its check"))
                elif failure.phase == "file":
                    report.problems.append(Problem(step.id, f"the skeleton fails only by not importing: "
                                                            f"{' '.join(failure.message.split())[:300]}"))
                elif failure.name == CRASH:
                    report.problems.append(Problem(step.id, "the skeleton crashed or hung the check process"))
                elif not failure.message.strip():
                    report.problems.append(Problem(step.id, "the skeleton's failure tells the learner nothing"))
                on_event(StepSettled(step.id, f"{step.title}: the skeleton fails its check",
                                     failure is not None and failure.phase != "file" and failure.name != CRASH))
    return report
