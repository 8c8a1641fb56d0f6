"""The check engine, and the toolkit the course's checks are written with.

A check module (`course/checks/check_NN.py`) declares `checks = StepChecks()` and registers functions
with `@checks.structure("...")` and `@checks.behaviour("...")`. Each takes a `Context` and
raises `CheckFailed` with a message for the learner, or returns an optional detail line.

The toolkit's names load on first use (the toolkit needs numpy; the engine's results and protocol don't).
"""

from __future__ import annotations

import importlib

_TOOLKIT = {"CheckFailed": ".failure", "Context": ".context", "Mistake": ".judging", "Probe": ".judging",
            "StepChecks": ".registering", "parameter_shapes": ".parameters", "learner_traceback": "..frames",
            "select_into_softmax": ".compiles", "symbolic_hint": ".compiles", "recording": ".compiles",
            "ON_GPU": ".devices", "tensor_type": ".devices", "trace_module": ".devices"}
__all__ = list(_TOOLKIT)


def __getattr__(name: str):
    if name in _TOOLKIT:
        return getattr(importlib.import_module(_TOOLKIT[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
