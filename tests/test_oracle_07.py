"""Step 07's numpy attention (the source of its named mistakes): right with its default knobs, wrong with each other."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gpt2tutor.maxenv import tune_process

tune_process()

from gpt2tutor.checking.context import Context  # noqa: E402
from gpt2tutor.checking.numpy_gpt2 import attention  # noqa: E402
from gpt2tutor.course.reference import step_07  # noqa: E402
from gpt2tutor.registry import get_step  # noqa: E402

WRONG = [dict(scale=1.0), dict(mask="none"), dict(mask="flipped"), dict(softmax_axis=-2), dict(split="reshape"),
         dict(merge="reshape"), dict(order=(1, 0, 2)), dict(order=(0, 2, 1)), dict(proj=False)]


@pytest.mark.parametrize("sizes", [dict(n_embd=32, n_head=4), dict(n_embd=48, n_head=3)], ids=["d32h4", "d48h3"])
def test_numpy_attention_matches_the_reference(sizes):
    ctx = Context(get_step(7), step_07, step_07, None, seed=0)
    cfg = ctx.config(**sizes)
    reference = ctx.reference_build("GPT2MultiHeadAttention", cfg)
    w = ctx.random_weights(ctx.shapes(reference))
    reference.load_state_dict(w)
    for b, s in [(1, 1), (2, 5), (3, 7)]:
        x = ctx.normal(b, s, cfg.n_embd)
        expected = reference(ctx.tensor(x)).to_numpy()
        np.testing.assert_allclose(attention(w, x, cfg.n_head), expected, atol=1e-5, rtol=1e-5)
        if s > 1:
            for knobs in [*WRONG, dict(scale=1 / math.sqrt(cfg.n_embd))]:
                assert np.abs(attention(w, x, cfg.n_head, **knobs) - expected).max() > 1e-2, knobs
