"""Checks registered with lazy_first: the learner's forward calls run as lazy graphs first, a pass stands, and
anything else runs the check again eagerly, from the same random state, and gives the verdict. And ctx.compare's
own lazy run: every case in one graph, then one graph per case, then eagerly where that fails."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from gpt2tutor.maxenv import tune_process

tune_process()

from gpt2tutor.checking import CheckFailed, StepChecks  # noqa: E402
from gpt2tutor.checking.context import Context  # noqa: E402


def run_lazy_first(learner_forward, *, seed: int = 7):
    """Registers one lazy_first check that feeds `learner_forward` random inputs through ctx.forward; returns
    (its result, the lazy flag and the inputs of every run)."""
    runs = []
    checks = StepChecks()

    @checks.behaviour("doubles its input", lazy_first=True)
    def doubles(ctx):
        from max.experimental import realization_context

        x = ctx.normal(2, 3)
        runs.append((ctx.lazy, x, realization_context.seed().item()))
        got = ctx.as_array(ctx.forward("double", learner_forward, ctx.tensor(x)), "double")
        if not np.allclose(got, 2 * x):
            raise CheckFailed(f"not doubled ({'lazily' if ctx.lazy else 'eagerly'})")
        return "doubled"

    ctx = Context(SimpleNamespace(filename="step_99.py"), None, None, None, seed)
    (_, registered), = checks.behaviour_checks
    try:
        return registered(ctx), runs
    except CheckFailed as failed:
        return failed, runs


def test_a_lazy_pass_stands_and_runs_once() -> None:
    result, runs = run_lazy_first(lambda x: x + x)
    assert result == "doubled"
    assert [lazy for lazy, *_ in runs] == [True]


def test_code_that_reads_a_value_midway_runs_again_eagerly_on_the_same_inputs() -> None:
    from max.experimental.tensor import Tensor

    def reads(x):
        doubled = (x + x).to_numpy()  # raises inside F.lazy(): the sum is not computed yet
        return Tensor.from_dlpack(np.ascontiguousarray(doubled))

    result, runs = run_lazy_first(reads)
    assert result == "doubled"
    assert [lazy for lazy, *_ in runs] == [True, False]
    assert np.array_equal(runs[0][1], runs[1][1])  # the eager run drew the same random inputs


def test_a_wrong_answer_gets_the_eager_runs_verdict() -> None:
    result, runs = run_lazy_first(lambda x: x * 3)
    assert isinstance(result, CheckFailed) and str(result) == "not doubled (eagerly)"
    assert [lazy for lazy, *_ in runs] == [True, False]
    assert np.array_equal(runs[0][1], runs[1][1])


@pytest.mark.parametrize("seed", [1, 2])
def test_the_eager_run_starts_from_the_same_max_seed(seed: int) -> None:
    from max.experimental import random, realization_context

    realization_context.set_seed(seed)
    result, runs = run_lazy_first(lambda x: x * 3 + 0 * random.uniform(x.shape))  # wrong: both runs draw
    assert isinstance(result, CheckFailed) and [lazy for lazy, *_ in runs] == [True, False]
    assert runs[0][2] == runs[1][2] == seed  # the lazy run's draw moved the seed on; the eager run got it back
    assert realization_context.seed().item() != seed


# --- ctx.compare: every case in one lazy graph first, then one graph per case, then eagerly ------------------

def compare_doubling(learner_forward):
    """ctx.compare on three cases of `learner_forward(x)` against 2x; returns (its result, the cases' indices
    in the order the learner was called)."""
    ctx = Context(SimpleNamespace(filename="step_99.py"), None, None, None, 7)
    xs = [ctx.normal(2, n) for n in (1, 2, 3)]
    calls = []

    def learner(i):
        calls.append(i)
        return learner_forward(ctx.tensor(xs[i]))

    cases = [(f"case {i}", i) for i in range(3)]
    try:
        return ctx.compare("double", cases, learner, lambda i: 2 * xs[i]), calls
    except CheckFailed as failed:
        return failed, calls


def test_compare_runs_every_case_once_when_they_pass_in_one_graph() -> None:
    result, calls = compare_doubling(lambda x: x + x)
    assert result.startswith("3 random cases agree") and calls == [0, 1, 2]


def test_a_case_that_cant_run_lazily_leaves_the_others_lazy() -> None:
    from max.experimental.tensor import Tensor

    def reads_on_the_middle_case(x):
        if int(x.shape[1]) == 2:
            return Tensor.from_dlpack(np.ascontiguousarray((x + x).to_numpy()))  # raises inside F.lazy()
        return x + x

    result, calls = compare_doubling(reads_on_the_middle_case)
    assert result.startswith("3 random cases agree")
    # one graph for all (it raises at case 1), one graph per case (case 1 raises again), case 1 eagerly
    assert calls == [0, 1, 0, 1, 2, 1]


def test_a_wrong_case_in_a_lazy_pass_runs_again_eagerly_and_fails() -> None:
    result, calls = compare_doubling(lambda x: x * (3 if int(x.shape[1]) == 3 else 2))
    assert isinstance(result, CheckFailed) and "double on case 2" in str(result)
    assert calls == [0, 1, 2, 2]


def test_compare_in_a_lazy_first_check_adds_no_lazy_run_of_its_own() -> None:
    """The check's lazy run is the one lazy run: its compare calls each case once, ctx.forward building lazily,
    though the learner callable reads its value (which compare's own lazy run could not)."""
    checks, calls = StepChecks(), []

    @checks.behaviour("doubles its inputs", lazy_first=True)
    def doubles(ctx):
        xs = [ctx.normal(2, n) for n in (1, 2)]

        def learner(i):
            calls.append((i, ctx.lazy))
            return ctx.as_array(ctx.forward("double", lambda x: x + x, ctx.tensor(xs[i])), "double")

        return ctx.compare("double", [(f"case {i}", i) for i in range(2)], learner, lambda i: 2 * xs[i])

    (_, registered), = checks.behaviour_checks
    result = registered(Context(SimpleNamespace(filename="step_99.py"), None, None, None, 7))
    assert result.startswith("2 random cases agree") and calls == [(0, True), (1, True)]
