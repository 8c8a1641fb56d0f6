"""The course as data: `course.toml` lists the steps; each step's lesson, hints, skeleton, reference and checks
sit beside it, found by the step's number (see the comments at the top of course.toml).

This module reads that file and knows the rules it states: the order of the steps, what unlocks each one,
what each is for. Nothing else in the tutor names a step by its number: it asks `get_step`, `by_role` or the
order of `STEPS`. Nothing here imports MAX, numpy or the rest of the tutor.
"""

from __future__ import annotations

import importlib
import re
import sys
from dataclasses import dataclass
from functools import cached_property
from importlib import resources
from types import ModuleType

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

COURSE = "gpt2tutor.course"  # the package that holds course.toml and the steps' files
_TIER_NUMBER = re.compile(r"^\d+\.\s*")  # the "2. " of a hint heading "### 2. Concept"
UNLOCK_RULES = ("previous", "all")
ROLES = ("config", "mask", "model", "conversion", "cached_model", "generation", "batched_model")
DEBUGGING_GUIDE = "Debugging in MAX"  # a section of one lesson; `gpt2tutor hint --debugging` shows it


def _read(path: str) -> str:
    return resources.files(COURSE).joinpath(path).read_text("utf-8")


def step_id(number: int) -> str:
    """A step's id, "07": how state.json, file names and arguments spell its number (in any schema)."""
    return f"{number:02d}"


def step_module(sid: str) -> str:
    """The module name of the exercise with id `sid`, "step_07" (a step of this course or an earlier one)."""
    return f"step_{sid}"


@dataclass(frozen=True)
class Step:
    number: int
    title: str
    unlock: str = "previous"  # "previous": when the step before passes; "all": when every earlier step passes
    contract: tuple[str, ...] = ()  # names the learner's file must define ("Class.method" for a method)
    role: str | None = None  # what the tutor's own code uses the step for (see course.toml)
    kernels: bool = True  # whether its checks run MAX ops
    batch: str | None = None  # the kernel batch its checks' new kernels compile in (None: its own)
    compiled: bool = False  # whether its verdict waits on its model compiled in the background agreeing with eager

    @property
    def kernel_batch(self) -> str:
        """The name of the kernel batch its checks' new kernels compile in."""
        return self.batch or self.id

    @property
    def waits_for_all(self) -> bool:
        return self.unlock == "all"

    @property
    def id(self) -> str:
        return step_id(self.number)

    @property
    def module(self) -> str:
        """The exercise's module name, as the learner's files import each other."""
        return step_module(self.id)

    @property
    def filename(self) -> str:
        return f"{self.module}.py"

    @property
    def check_module(self) -> str:
        return f"{COURSE}.checks.check_{self.id}"

    @property
    def reference_module(self) -> str:
        return f"{COURSE}.reference.{self.module}"

    def reference(self) -> ModuleType:
        """The reference answer, imported (it imports MAX)."""
        return importlib.import_module(self.reference_module)

    @property
    def lesson_file(self) -> str:
        return f"lessons/{self.module}.md"

    @cached_property
    def _lesson_parts(self) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
        return split_lesson(_read(self.lesson_file))

    @property
    def lesson(self) -> str:
        return self._lesson_parts[0]

    @property
    def hints(self) -> tuple[str, ...]:
        """Hint tiers, from a nudge to a near-solution (three or four)."""
        return self._lesson_parts[1]

    @property
    def hint_labels(self) -> tuple[str, ...]:
        """Each tier's name, from its heading: `### 2. Concept` is "concept"."""
        return self._lesson_parts[2]

    def section(self, title: str) -> str:
        """The lesson's `## <title>` section, heading included; "" when it has none."""
        return section(self.lesson, title)

    def skeleton(self) -> str:
        return _read(f"skeletons/{self.filename}")

    def reference_source(self) -> str:
        return _read(f"reference/{self.filename}")

    def solution(self) -> str:
        """The reference module as a learner's file: earlier steps imported from the exercises folder."""
        return re.sub(r"^from \.(step_\d\d) import", r"from \1 import", self.reference_source(), flags=re.M)


@dataclass(frozen=True)
class Lesson:
    """A lesson that belongs to a command, not a step (`gpt2tutor show serve`)."""

    name: str
    title: str
    file: str

    @property
    def text(self) -> str:
        return _read(self.file)


def split_lesson(text: str) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    """A lesson file's body, its hint tiers and their labels (the body ends at `## Hints`)."""
    lesson, _, hints = text.partition("\n## Hints\n")
    parts = re.split(r"^### (.*)$", hints, flags=re.M)[1:]  # heading, body, heading, body, ...
    labels = tuple(_TIER_NUMBER.sub("", h).strip().lower() for h in parts[0::2])
    return lesson.strip(), tuple(t.strip() for t in parts[1::2]), labels


def section(text: str, title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", text, flags=re.M | re.S)
    return match.group(0).strip() if match else ""


class CourseError(ValueError):
    """course.toml is not a course this tutor can run."""


@dataclass(frozen=True)
class Schema:
    """An earlier course, `[history.schemaN]` of course.toml: what a workspace it made needs to move forward
    to the course after it (schema N + 1, or this course after the last entry)."""

    number: int
    steps: int  # how many steps its course had
    renamed: dict  # its step id -> the id the course after it gives that step, for each step renumbered


def _history(raw: dict, count: int) -> tuple[Schema, ...]:
    """The declared schemas, oldest first; they must be schema1, schema2, ... with no gap."""
    names = [f"schema{n}" for n in range(1, len(raw) + 1)]
    if sorted(raw) != sorted(names):
        raise CourseError(f"course.toml: [history] declares {sorted(raw)}; it must be {names}, one per earlier "
                          "schema")
    found = []
    for number, name in enumerate(names, start=1):
        steps, renamed = raw[name].get("steps"), dict(raw[name].get("renamed", {}))
        after = raw[names[number]].get("steps") if number < len(names) else count
        if not isinstance(steps, int) or steps < 1 or not isinstance(after, int):
            raise CourseError(f"course.toml: [history.{name}] needs `steps`, how many steps that course had")
        ids, ids_after = {step_id(n) for n in range(1, steps + 1)}, {step_id(n) for n in range(1, after + 1)}
        for old, new in renamed.items():
            if old not in ids or new not in ids_after:
                raise CourseError(f"course.toml: [history.{name}] renames {old!r} to {new!r}: each must be a step "
                                  f"id of its course ({steps} steps) and of the next ({after} steps)")
        found.append(Schema(number, steps, renamed))
    return tuple(found)


def _load() -> tuple[tuple[Step, ...], tuple[Lesson, ...], tuple[Schema, ...]]:
    data = tomllib.loads(_read("course.toml"))
    steps = []
    for i, raw in enumerate(data.get("step", []), start=1):
        raw = dict(raw)
        if raw.get("number") != i:
            raise CourseError(f"course.toml: step entry {i} has number {raw.get('number')!r}; steps are numbered 1, 2, ...")
        raw["contract"] = tuple(raw.get("contract", ()))
        step = Step(**raw)
        if step.unlock not in UNLOCK_RULES:
            raise CourseError(f"course.toml: step {step.id} has unlock {step.unlock!r}, not one of {UNLOCK_RULES}")
        if step.role is not None and step.role not in ROLES:
            raise CourseError(f"course.toml: step {step.id} has role {step.role!r}, not one of {ROLES}")
        steps.append(step)
    roles = [s.role for s in steps if s.role]
    if len(roles) != len(set(roles)):
        raise CourseError("course.toml: a role is given to two steps")
    lessons = tuple(Lesson(**raw) for raw in data.get("lesson", []))
    return tuple(steps), lessons, _history(data.get("history", {}), len(steps))


STEPS, LESSONS, HISTORY = _load()
SCHEMA = len(HISTORY) + 1  # the schema of the state.json this course writes: the one after its declared history
_STEP_ARG = re.compile(r"(?:step_?)?(\d{1,2})")


class UnknownStep(ValueError):
    pass


def get_step(arg: str | int | Step) -> Step:
    """The step named by `7`, `07` or `step_07` (or the Step itself); anything else raises UnknownStep."""
    if isinstance(arg, Step):
        return arg
    match = _STEP_ARG.fullmatch(str(arg).strip().lower())
    if not match:
        raise UnknownStep(f"'{arg}' is not a step: use a number from 1 to {len(STEPS)}, like 7, 07 or step_07")
    number = int(match.group(1))
    if not 1 <= number <= len(STEPS):
        raise UnknownStep(f"there is no step {number}: the steps run from {STEPS[0].id} to {STEPS[-1].id}")
    return STEPS[number - 1]


def by_role(role: str) -> Step:
    """The step the tutor's code uses for `role` (see course.toml)."""
    for step in STEPS:
        if step.role == role:
            return step
    raise LookupError(f"no step of the course has the role {role!r}")


def defining(name: str) -> Step:
    """The step whose contract holds `name` (a class or function the learner writes)."""
    for step in STEPS:
        if name in step.contract:
            return step
    raise LookupError(f"no step of the course defines {name!r}")


def lesson(name: str) -> Lesson | None:
    """The command lesson called `name` (`show serve`), or None."""
    return next((les for les in LESSONS if les.name == name), None)


def prerequisites(step: Step) -> tuple[Step, ...]:
    """The steps that must pass before `step` unlocks."""
    earlier = STEPS[: STEPS.index(step)]
    return earlier if step.waits_for_all else earlier[-1:]


def needed_for(role: str) -> tuple[Step, ...]:
    """The steps that must pass before the tutor runs the learner's code for `role` (`generate` and `serve` ask
    for "generation"): the role's step and every step before it, whatever comes after."""
    return up_to(by_role(role))


def following(step: Step) -> Step | None:
    """The step after `step`, or None after the last one."""
    i = STEPS.index(step)
    return STEPS[i + 1] if i + 1 < len(STEPS) else None


def up_to(step: Step | None) -> tuple[Step, ...]:
    """The steps from the first through `step` (every step for None)."""
    return STEPS if step is None else STEPS[: STEPS.index(step) + 1]


def span(steps) -> str:
    """"01-14" for the steps given (first and last), "07" for one."""
    steps = list(steps)
    return steps[0].id if len(steps) == 1 else f"{steps[0].id}-{steps[-1].id}"


def debugging_guide() -> str:
    """The lesson section `gpt2tutor hint --debugging` shows, from whichever lesson holds it."""
    return next((text for s in STEPS if (text := s.section(DEBUGGING_GUIDE))), "")
