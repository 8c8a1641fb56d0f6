"""The check engine.

A check module (`checks/check_NN.py`) declares `checks = StepChecks()` and registers functions
with `@checks.structure("...")` and `@checks.behaviour("...")`. Each takes a `Context` and
raises `CheckFailed` with a message for the learner, or returns an optional detail line.
"""

from ..frames import learner_traceback
from .context import CheckFailed, Context, Mistake, Probe, StepChecks

__all__ = ["CheckFailed", "Context", "Mistake", "Probe", "StepChecks", "learner_traceback"]
