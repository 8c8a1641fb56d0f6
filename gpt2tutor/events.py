"""What the tutor reports while it works: typed events, passed to an `on_event` callback.

The API (gpt2tutor.api) sends these as things happen; the command line draws them, a script may
ignore them or log them. A check's own results are `gpt2tutor.checking.results.Result`s, sent as
they arrive too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

# What MAX is preparing: "kernel", an eager op compiled on first use; "batch", one of the tutor's
# kernel batches being loaded; "graph", a whole model compiled with Module.compile.
CompileKind = Literal["kernel", "batch", "graph"]


@dataclass(frozen=True)
class Compiling:
    """MAX started preparing something; the check's time limit waits until the matching Compiled."""

    what: str
    kind: CompileKind = "kernel"


@dataclass(frozen=True)
class Compiled:
    what: str
    kind: CompileKind = "kernel"
    seconds: float = 0.0


@dataclass(frozen=True)
class Launched:
    """This command started the background process (`waited_for`: and waits for it now)."""

    pid: int
    waited_for: bool = False


@dataclass(frozen=True)
class Waiting:
    """Waiting for the background process: `left` of `total` tasks it must finish first, and its report.
    `what`: "kernels" (the checks' kernel batches) or "graph" (the learner's model, compiled)."""

    who: str  # who waits ("step 07", "the attention map", ...)
    left: int
    total: int
    report: Any  # gpt2tutor.background_report.Report
    seconds: float  # waited so far
    what: str = "kernels"


@dataclass(frozen=True)
class WaitOver:
    who: str
    seconds: float
    ready: bool  # False: the background process stopped, and the work goes on without it
    why: str = ""
    what: str = "kernels"


@dataclass(frozen=True)
class StepSettled:
    """A step checked during a rebuild of the learner's progress."""

    step: str
    title: str
    passed: bool


@dataclass(frozen=True)
class Notice:
    """Something the learner should read, in plain words; `level` is "info" or "warning"."""

    text: str
    level: str = "info"


@dataclass(frozen=True)
class Migrated:
    """The workspace was made by an older gpt2tutor and has been brought up to date."""

    notice: str


@dataclass(frozen=True)
class Phase:
    """A slow part of a command began (loading weights, compiling, ...); `done` when it ended."""

    what: str
    done: bool = False
    seconds: float = 0.0


Event = Any  # one of the classes above, or a checking.results.Result
OnEvent = Callable[[Event], None]


def ignore(event: Event) -> None:
    """The default listener."""

