"""The registry of steps: their order, titles, what unlocks each one, and where their files live.

Adding a step is one line here plus its files: `exercises/step_NN.py` (the skeleton),
`gpt2tutor/lessons/step_NN.md` (lesson and hints), `gpt2tutor/reference/step_NN.py`
(the answer) and `checks/check_NN.py` (what the check runs). A step unlocks when the one before it
passes; a step marked `waits_for_all` unlocks only when every earlier step passes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from importlib import resources

_TIER_NUMBER = re.compile(r"^\d+\.\s*")  # the "2. " of a hint heading "### 2. Concept"


@dataclass(frozen=True)
class Step:
    number: int
    title: str
    waits_for_all: bool = False  # unlocks once every earlier step passes, not just the one before

    @property
    def id(self) -> str:
        return f"{self.number:02d}"

    @property
    def module(self) -> str:
        """The exercise's module name, as the learner's files import each other."""
        return f"step_{self.id}"

    @property
    def filename(self) -> str:
        return f"{self.module}.py"

    @property
    def check_module(self) -> str:
        return f"gpt2tutor.checks.check_{self.id}"

    @property
    def reference_module(self) -> str:
        return f"gpt2tutor.reference.{self.module}"

    @cached_property
    def _lesson_parts(self) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
        text = resources.files("gpt2tutor.lessons").joinpath(f"{self.module}.md").read_text("utf-8")
        lesson, _, hints = text.partition("\n## Hints\n")
        parts = re.split(r"^### (.*)$", hints, flags=re.M)[1:]  # heading, body, heading, body, ...
        labels = tuple(_TIER_NUMBER.sub("", h).strip().lower() for h in parts[0::2])
        return lesson.strip(), tuple(t.strip() for t in parts[1::2]), labels

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
        match = re.search(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", self.lesson, flags=re.M | re.S)
        return match.group(0).strip() if match else ""

    def skeleton(self) -> str:
        return resources.files("gpt2tutor.exercises").joinpath(self.filename).read_text("utf-8")

    def solution(self) -> str:
        """The reference module as a learner's file: earlier steps imported from the exercises folder."""
        source = resources.files("gpt2tutor.reference").joinpath(self.filename).read_text("utf-8")
        return re.sub(r"^from \.(step_\d\d) import", r"from \1 import", source, flags=re.M)


STEPS: tuple[Step, ...] = (
    Step(1, "Model configuration"),
    Step(2, "Causal masking"),
    Step(3, "Layer normalization"),
    Step(4, "Feed-forward network"),
    Step(5, "Token embeddings"),
    Step(6, "Position embeddings"),
    Step(7, "Multi-head attention"),
    Step(8, "Residual connections"),
    Step(9, "Transformer block"),
    Step(10, "Stacking blocks"),
    Step(11, "Language model head"),
    Step(12, "Loading the real weights"),
    Step(13, "The KV cache"),
    Step(14, "Text generation", waits_for_all=True),
)

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
        raise UnknownStep(f"there is no step {number}: the steps run from 01 to {len(STEPS):02d}")
    return STEPS[number - 1]


def prerequisites(step: Step) -> tuple[Step, ...]:
    """The steps that must pass before `step` unlocks."""
    earlier = STEPS[: step.number - 1]
    return earlier if step.waits_for_all else earlier[-1:]


def following(step: Step) -> Step | None:
    """The step after `step`, or None after the last one."""
    return STEPS[step.number] if step.number < len(STEPS) else None


DEBUGGING_GUIDE = "Debugging in MAX"  # a section of step 03's lesson; `gpt2tutor hint --debugging` shows it


def debugging_guide() -> str:
    return get_step(3).section(DEBUGGING_GUIDE)
