"""What checking finds: one check's Result, and a step's outcome (its results, the file they judged)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from ..registry import Step

PHASE_TITLES = {
    "file": "The file and its imports",
    "structure": "Structure",
    "placeholders": "No placeholders left",
    "behaviour": "Behaviour against the reference",
}


TIME_LIMIT = "time limit"  # a Result's cause when the time limit ended the check


@dataclass
class Result:
    step: str
    phase: str
    name: str
    passed: bool
    message: str = ""
    cause: str = ""  # a failure that is no verdict on the step's own file: TIME_LIMIT, or the other file that failed

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class StepOutcome:
    """One step's results from one run, and the hash of the file as it was when the run began."""
    step: Step
    results: list[Result] = field(default_factory=list)
    file_hash: str | None = None

    @property
    def passed(self) -> bool:
        return bool(self.results) and all(r.passed for r in self.results)

    @property
    def cause(self) -> str:
        """Why this run says nothing about the step's own file ("" when it does: it passed, or its file failed):
        the time limit ended it (TIME_LIMIT), or another file failed first (its name, "step_01.py"). Such an
        outcome is not recorded: a passed step stays passed, and the next one stays open."""
        return next((r.cause for r in self.results if not r.passed and r.cause), "")
