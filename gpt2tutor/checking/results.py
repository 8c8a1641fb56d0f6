"""What checking finds: one check's Result, and a step's outcome (its results, the file they judged)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from ..course import Step

PHASE_TITLES = {
    "file": "The file and its imports",
    "structure": "Structure",
    "placeholders": "No placeholders left",
    "behaviour": "Behaviour against the reference",
}


@dataclass
class Result:
    step: str
    phase: str
    name: str
    passed: bool
    message: str = ""

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
