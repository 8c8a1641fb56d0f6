"""Judging code that compiles a model, without waiting for the compile.

A compile costs minutes on a small machine whatever the model's size; tracing the same graph costs a
fraction of a second. So while a check runs the learner's `load_gpt2`, `Module.compile` is recorded instead
of run: the module, its input types and `weights=` are kept (`CompileCall`), the graph is traced exactly as
`compile` would trace it (`Module.trace`, MAX's own), so code that can't trace with symbolic dims fails at
once, and what the learner gets back (`Recorded`) runs the recorded module eagerly, with the recorded weights,
when called. The check then judges what they passed and what the model computes; the real compile happens
once, in the background, at the shapes `generate` uses (gpt2tutor/graphs.py), and its numbers are compared
with the eager model's there.

While tracing, a comparison of a symbolic dim made in the learner's own files is noted too: `==` and `!=`
give a plain bool (`seq == 1` is False), `if dim:` is always True, so a branch on either is baked into the
graph silently.
"""

from __future__ import annotations

import contextlib
import re
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class CompileCall:
    """One call of Module.compile that a check recorded instead of running."""

    module: Any
    input_types: tuple
    weights: Any  # what `weights=` was given (None when left out)
    kwargs: dict = field(default_factory=dict)
    staged: Any = None  # the traced graph (max.experimental.compilation.StagedGraph), when it traced
    error: BaseException | None = None  # why it did not trace
    trace_seconds: float = 0.0
    dim_branches: list[str] = field(default_factory=list)  # "step_13.py line 30: `seq == 1`" in the learner's code

    @property
    def graph_text(self) -> str:
        return str(self.staged) if self.staged is not None else ""


class Recorded:
    """What a recorded Module.compile returns: called like the compiled model would be, it runs the module
    eagerly with the recorded weights (loaded on the first call)."""

    def __init__(self, call: CompileCall):
        self.call = call
        self._loaded = False

    def __call__(self, *args, **kwargs):
        if not self._loaded:
            module = self.call.module
            names = {name for name, _ in module.parameters}
            weights = self.call.weights if self.call.weights is not None else {}
            module.load_state_dict({k: v for k, v in weights.items() if k in names})
            self._loaded = True
        return self.call.module(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<compiled {type(self.call.module).__name__} (recorded by the check)>"


@contextlib.contextmanager
def recording(exercises: Path, *, compile: bool = False) -> Iterator[list[CompileCall]]:
    """Within: Module.compile records its call and traces instead of compiling (see the module's docstring).
    Yields the list the calls are appended to. With `compile`, it also compiles, as usual, and returns the
    compiled model (for the background compile, which compares it with the recorded module run eagerly)."""
    from max.experimental.nn import Module

    calls: list[CompileCall] = []
    original = Module.compile

    def record(self, *input_types, weights=None, **kwargs):
        call = CompileCall(self, input_types, weights, kwargs)
        calls.append(call)
        started = time.perf_counter()
        with _watching_dims(exercises, call.dim_branches):
            try:
                call.staged = self.trace(*input_types, name=kwargs.get("name"))
            except Exception as exc:
                call.error = exc
        call.trace_seconds = time.perf_counter() - started
        if compile:
            return original(self, *input_types, weights=weights, **kwargs)
        return Recorded(call)

    Module.compile = record
    try:
        yield calls
    finally:
        Module.compile = original


@contextlib.contextmanager
def _watching_dims(exercises: Path, found: list[str]) -> Iterator[None]:
    """Notes each `==`, `!=` or truth test of a symbolic dim made directly by the learner's files."""
    from max.graph import AlgebraicDim, SymbolicDim

    root = exercises.resolve()
    saved: list[tuple[type, str, Any]] = []

    def noting(cls: type, name: str, show: str):
        original = cls.__dict__.get(name)
        inherited = getattr(cls, name, None)

        def wrapper(self, *other):
            frame = sys._getframe(1)
            try:
                where = Path(frame.f_code.co_filename).resolve()
                if where.is_relative_to(root):
                    import linecache

                    line = linecache.getline(str(where), frame.f_lineno).strip()
                    note = f"{where.name} line {frame.f_lineno}: `{line}`"
                    if note not in found:
                        found.append(note)
            except (OSError, ValueError):
                pass
            if inherited is None:
                return True if name == "__bool__" else NotImplemented
            return inherited(self, *other)

        saved.append((cls, name, original))
        setattr(cls, name, wrapper)

    for cls in (SymbolicDim, AlgebraicDim):
        noting(cls, "__eq__", "==")
        noting(cls, "__ne__", "!=")
        noting(cls, "__bool__", "bool")
    try:
        yield
    finally:
        for cls, name, original in reversed(saved):
            if original is None:
                delattr(cls, name)
            else:
                setattr(cls, name, original)


# --- why a graph did not trace -----------------------------------------------------------------------

_SYMBOLIC = [
    (re.compile(r"Int conversions only supported for static dims"),
     "int() of a symbolic dim: in a compiled graph `past` and `seq` have no value, so int(...) raises. Keep them "
     "dims: shapes, F.zeros([seq, past]), Tensor.arange(past + seq) and slices take dims as they are"),
    (re.compile(r"explicitly convert to int with int\(dim\)|expected a sequence of integers"),
     "a symbolic dim used as a Python number (range(past), a list or NumPy array sized or indexed by it, "
     "math on it): in a compiled graph it has no value. Build the piece with MAX ops, which take dims"),
    (re.compile(r"not supported between instances of '(?:Symbolic|Algebraic)Dim'|"
                r"not supported between instances of 'int' and '(?:Symbolic|Algebraic)Dim'"),
     "an ordering comparison (<, >, max, min) of a symbolic dim: F.band_part inside causal_mask(seq, past) makes "
     "one with num_upper=past, and so does `if seq > 1:`. Only static dims compare; build the mask from pieces "
     "that may be symbolic (the lesson shows the form that traces)"),
    (re.compile(r"SymbolicDim|AlgebraicDim|symbolic dim", re.I),
     "a symbolic dim where MAX wanted a Python int: in a compiled graph `past` and `seq` have no value"),
]


def symbolic_hint(exc: BaseException) -> str | None:
    """What a trace error says about symbolic dims, in the learner's terms; None when it is about something else."""
    text = f"{type(exc).__name__}: {exc}"
    for pattern, hint in _SYMBOLIC:
        if pattern.search(text):
            return hint
    return None


# --- patterns MAX 26.7 compiles wrongly --------------------------------------------------------------

_DEF = re.compile(r"^\s*(%[\w.]+)\s*=\s*([\w.]+)(.*)$", re.M)
_VALUE = re.compile(r"%[\w.]+")
_NEG_INF = ("0xFF800000", "0xFC00", "0xFF80", "-inf")  # float32, float16, bfloat16, as MLIR prints them


def select_into_softmax(graph_text: str) -> int:
    """How many softmaxes take a `select` (F.where) whose fill is -inf. MAX 26.7's CPU compiler fuses
    softmax(where(mask, -inf, scores)) @ v into a flash-attention kernel that turns the mask into
    cast(mask) * -inf, so every visible key gets 0 * -inf = NaN: eager code right, compiled logits NaN."""
    ops: dict[str, tuple[str, str, list[str]]] = {}  # value -> (op, the rest of its line, its operands)
    for name, op, rest in _DEF.findall(graph_text):
        head = rest.lstrip()
        operands = head[1:head.find(")")] if head.startswith("(") else ""
        ops[name] = (op, rest, _VALUE.findall(operands))

    def is_neg_inf(value: str, depth: int = 0) -> bool:
        if value not in ops or depth > 6:
            return False
        op, rest, args = ops[value]
        if op == "mo.constant":
            return any(token in rest for token in _NEG_INF)
        if op.endswith(("broadcast_to", "reshape", "cast", "mo.cast")):
            return any(is_neg_inf(a, depth + 1) for a in args)
        return False

    count = 0
    for op, _, args in ops.values():
        if op.endswith("softmax") and args:
            source = ops.get(args[0])
            if source and source[0].endswith("select") and any(is_neg_inf(a) for a in source[2][1:]):
                count += 1
    return count
