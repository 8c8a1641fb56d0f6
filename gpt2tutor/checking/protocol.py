"""What the check process tells the tutor: one JSON line per record, appended to a results file.

The child (checking/child.py) writes, the runner (checking/runner.py) reads; this module alone knows the
format. Appending line by line means a crash loses nothing already decided.

    Seed(seed)                   the seed of this run's random weights and inputs
    Go()                         a spare process received its steps and starts
    Started(step) ... Finished(step)   around each step's checks
    Result                       one check's verdict (checking.results.Result)
    Compiling(what, kind) ... Compiled(what, kind, seconds)   MAX preparing kernels or a graph

Beside the results file, the stack file (`stack_path`): a check process that gets STACK_SIGNAL writes the
stack of each of its threads there (Python's faulthandler, which answers even from inside native code), so
the time limit can say which of the learner's lines was running (`learner_stack`).
"""

from __future__ import annotations

import json
import re
import signal
from dataclasses import asdict, dataclass
from pathlib import Path

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
        self._file = open(path, "a", encoding="utf-8")

    def __call__(self, record: Record) -> None:
        self._file.write(encode(record))
        self._file.flush()


STACK_SIGNAL = signal.SIGUSR1
_FRAME = re.compile(r'^\s+File "(?P<file>.+)", line (?P<line>\d+) in (?P<name>.+)$')


def stack_path(results) -> Path:
    """Where the check process writing `results` writes its stack on STACK_SIGNAL."""
    return Path(f"{results}.stack")


def learner_stack(path: Path, exercises: Path, most: int = 5) -> list[tuple[Path, int, str, str]]:
    """From a stack file: the learner's frames (files under `exercises`) of the first thread running any, as
    (file, line, function, source line), outermost first and at most `most` of the innermost."""
    try:
        text = path.read_text("utf-8", "replace")
    except OSError:
        return []
    root = exercises.resolve()
    threads: list[list[tuple[Path, int, str]]] = []
    for line in text.splitlines():
        if not line.startswith(" "):  # "Current thread 0x... (most recent call first):", "Thread 0x...:"
            threads.append([])
            continue
        found = _FRAME.match(line)
        if found and threads and Path(found["file"]).resolve().is_relative_to(root):
            threads[-1].append((Path(found["file"]), int(found["line"]), found["name"]))
    frames = next((t for t in threads if t), [])[:most][::-1]  # the dump is innermost first
    return [(file, line, name, _source(file, line)) for file, line, name in frames]


def _source(file: Path, line: int) -> str:
    try:
        return file.read_text("utf-8", "replace").splitlines()[line - 1].strip()
    except (OSError, IndexError):
        return ""
