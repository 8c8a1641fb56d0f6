"""One check's outcome, as the child reports it and `check --json` prints it."""

from __future__ import annotations

from dataclasses import asdict, dataclass

PHASES = ("file", "structure", "placeholders", "behaviour")
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
