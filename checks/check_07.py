"""Step 07 checks: causal multi-head self-attention GPT2MultiHeadAttention."""

import math


from gpt2tutor.checking import Mistake, StepChecks

from ._numpy_gpt2 import attention

checks = StepChecks()


@checks.structure("GPT2MultiHeadAttention(config) holds c_attn and c_proj with GPT-2's shapes")
def structure(ctx):
    cfg = ctx.config()
    module = ctx.learner_module("GPT2MultiHeadAttention", ["config"], cfg)
    ctx.expect_reference_parameters(module, "GPT2MultiHeadAttention", cfg)


@checks.behaviour("GPT2MultiHeadAttention.forward matches the reference on random inputs")
def behaviour(ctx):
    cfg = ctx.config()
    d, h = cfg.n_embd, cfg.n_head
    learner, reference, w = ctx.paired("GPT2MultiHeadAttention", cfg)
    cases = [(f"an input of shape {[b, s, d]}", ctx.normal(b, s, d)) for b, s in [(1, 1), (2, 5), (3, 7), (1, 16)]]

    def wrong(message, **knobs):
        return Mistake(message, lambda x: attention(w, x, h, **knobs))

    reshaped = ("heads split by reshaping [batch, seq, n_embd] straight to [batch, n_head, seq, head_dim]: "
                "reshape to [batch, seq, n_head, head_dim], then transpose(1, 2)")
    mistakes = [
        wrong("the scores are not scaled: divide q @ k^T by sqrt(head_dim) before the softmax", scale=1.0),
        wrong("the scores are divided by sqrt(n_embd): the scale is 1/sqrt(head_dim), the size of one head",
              scale=1 / math.sqrt(d)),
        wrong("the scores are divided by head_dim: the scale is 1/sqrt(head_dim), a square root", scale=1 / (d // h)),
        wrong("no causal mask: each query sees later tokens; add causal_mask(seq, 0, ...) to the scores "
              "before the softmax", mask="none"),
        wrong("the mask is on the wrong side of the diagonal: query i may see keys j <= i, "
              "-inf goes above the diagonal", mask="flipped"),
        wrong("softmax over the wrong axis: each query's scores are normalized over the keys, axis=-1",
              softmax_axis=-2),
        wrong(reshaped, split="reshape"),
        wrong(reshaped, split="reshape", merge="reshape"),
        wrong("heads merged without transposing back: [batch, n_head, seq, head_dim] goes to "
              "[batch, seq, n_head, head_dim] before the reshape to [batch, seq, n_embd]", merge="reshape"),
        *[wrong("q, k and v taken from c_attn's output in the wrong order: it is q | k | v along the last axis",
                order=order) for order in [(0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0)]],
        wrong("c_proj is not applied: the merged heads go through c_proj", proj=False),
    ]
    return ctx.compare("GPT2MultiHeadAttention.forward", cases, lambda x: learner(ctx.tensor(x)),
                       lambda x: reference(ctx.tensor(x)), mistakes)
