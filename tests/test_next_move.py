"""When a wrong output matches no known mistake, the check's message says what to print next (numpy only, no MAX)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from gpt2tutor.checking import CheckFailed, Context, Mistake, Probe

PROBE = Probe("the doubled values", lambda x: [len(x), 2], "print(doubled.shape)")


def context() -> Context:
    step = SimpleNamespace(id="99", filename="step_99.py")
    return Context(step, SimpleNamespace(), SimpleNamespace(), Path("/nonexistent"), seed=0)


def failure(learner, mistakes=()) -> str:
    cases = [("a case", np.arange(3.0))]
    with pytest.raises(CheckFailed) as failed:
        context().compare("f", cases, learner, lambda x: 2 * x, mistakes, probe=PROBE)
    return str(failed.value)


def test_a_novel_error_gets_the_next_move_and_what_the_code_printed() -> None:
    def learner(x):
        print("doubled:", (2 * x).shape)
        return 2 * x + 1

    message = failure(learner)
    assert "max abs error" in message
    assert "No known mistake matches. Next move: print the doubled values, which should have shape [3, 2]" in message
    assert "`print(doubled.shape)`" in message
    assert "Your code printed on this case:\ndoubled: (3,)" in message


def test_a_known_mistake_is_named_instead() -> None:
    message = failure(lambda x: 3 * x, [Mistake("tripled, not doubled", lambda x: 3 * x)])
    assert "Likely mistake: tripled, not doubled" in message
    assert "Next move" not in message


def test_a_named_mistake_keeps_what_the_code_printed() -> None:
    def learner(x):
        print("tripled:", (3 * x).shape)
        return 3 * x

    message = failure(learner, [Mistake("tripled, not doubled", lambda x: 3 * x)])
    assert "Likely mistake: tripled, not doubled" in message
    assert "Your code printed on this case:\ntripled: (3,)" in message


def test_a_wrong_shape_gets_the_next_move_too() -> None:
    message = failure(lambda x: np.concatenate([x, x]))
    assert "the result has shape [6], expected [3]" in message and "Next move" in message
