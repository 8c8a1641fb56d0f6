"""What a check works with: one Context per step per check run, made of parts, one per job.

- lookup.py (LearnerNames): the names the learner's file must define;
- running.py (RunsCode): running their code and the reference's, on which device;
- inputs.py (MakesInputs) and parameters.py (ParameterChecks): configurations, weights, inputs, parameters;
- judging.py (JudgesOutputs): comparing outputs, and naming the mistake when they differ.
Checks call them all through `ctx`; lazy.py says how the learner's code runs lazily first.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from ..names import DEVICE_ENV
from .failure import CheckFailed
from .inputs import MakesInputs
from .judging import GENERIC_PROBE, JudgesOutputs, Mistake, Probe
from .lookup import LearnerNames
from .parameters import ParameterChecks
from .registering import CheckFn, StepChecks
from .running import GPU_SLACK, RunsCode

__all__ = ["DEVICE_ENV", "GENERIC_PROBE", "GPU_SLACK", "CheckFailed", "CheckFn", "Context", "Mistake", "Probe",
           "StepChecks"]



class Context(LearnerNames, RunsCode, MakesInputs, ParameterChecks, JudgesOutputs):
    """Everything a step's checks need; one per step per check run."""

    def __init__(self, step, learner: ModuleType, reference: ModuleType, exercises: Path, seed: int,
                 emit: Callable[[Any], None] = lambda record: None):
        self.step = step
        self.learner = learner
        self.reference = reference
        self.exercises = exercises
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self._emit = emit  # progress records for the runner (it pauses the time limit while compiling)
        self.lazy = False  # in a lazy run (checking/lazy.py): forward() builds lazily
        self.device = os.environ.get(DEVICE_ENV, "cpu")  # where the learner's code runs: "cpu" or "gpu"
