"""What the check process tells the tutor: one JSON line per record, appended to a results file.

The child (checking/child.py) writes, the runner (checking/runner.py) reads; this module alone knows the
format. Appending line by line means a crash loses nothing already decided.

    Seed(seed)                   the seed of this run's random weights and inputs
    Go()                         a spare process received its steps and starts
    Started(step) ... Finished(step)   around each step's checks
    Result                       one check's verdict (checking.results.Result)
    Compiling(what, kind) ... Compiled(what, kind, seconds)   MAX preparing kernels or a graph
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from ..events import Compiled, Compiling
from .results import Result


@dataclass(frozen=True)
class Seed:
    seed: int


@dataclass(frozen=True)
class Go:
    pass


@dataclass(frozen=True)
class Started:
    step: str


@dataclass(frozen=True)
class Finished:
    step: str


Record = Seed | Go | Started | Finished | Result | Compiling | Compiled
_TYPES: dict[str, type] = {cls.__name__: cls for cls in (Seed, Go, Started, Finished, Result, Compiling, Compiled)}


def encode(record: Record) -> str:
    """One line (with its newline) for the results file."""
    return json.dumps({"type": type(record).__name__, **asdict(record)}) + "\n"


def decode(line: str) -> Record:
    """The record a line holds; ValueError for a line no child writes."""
    data = json.loads(line)
    cls = _TYPES.get(data.pop("type", None)) if isinstance(data, dict) else None
    if cls is None:
        raise ValueError(f"not a check record: {line[:80]!r}")
    return cls(**data)


class Writer:
    """The child's end: appends records to the results file, flushed at once."""

    def __init__(self, path):
        self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - lives as long as the process

    def __call__(self, record: Record) -> None:
        self._file.write(encode(record))
        self._file.flush()
