"""Step 07 checks: causal multi-head self-attention GPT2MultiHeadAttention."""

import math

from gpt2tutor.checking import ON_GPU, CheckFailed, Mistake, Probe, StepChecks
from gpt2tutor.checking.numpy_gpt2 import attention

checks = StepChecks()


@checks.structure("GPT2MultiHeadAttention(config) holds c_attn and c_proj with GPT-2's shapes")
def structure(ctx):
    cfg = ctx.config()
    module = ctx.learner_module("GPT2MultiHeadAttention", ["config"], cfg)
    ctx.expect_reference_parameters(module, "GPT2MultiHeadAttention", cfg)


SPLIT_BY_RESHAPE = ("heads split by reshaping [batch, seq, n_embd] straight to [batch, n_head, seq, head_dim]: "
                    "reshape to [batch, seq, n_head, head_dim], then transpose(1, 2)")
MERGED_BY_RESHAPE = ("heads merged without transposing back: [batch, n_head, seq, head_dim] goes to "
                     "[batch, seq, n_head, head_dim] before the reshape to [batch, seq, n_embd]")


@checks.behaviour("split_heads and merge_heads move each head's features into place and back")
def heads(ctx):
    cfg = ctx.config()
    d, h = cfg.n_embd, cfg.n_head
    hd = d // h
    module = ctx.build(ctx.module_class("GPT2MultiHeadAttention"), cfg)
    split, merge = (getattr(module, name, None) for name in ("split_heads", "merge_heads"))
    if not callable(split) or not callable(merge):
        raise CheckFailed("GPT2MultiHeadAttention needs the methods split_heads(x), [batch, seq, n_embd] -> "
                          "[batch, n_head, seq, head_dim], and merge_heads(x), its exact reverse: the check "
                          "tries them on their own before the whole attention")
    sizes = [(1, 1), (2, 5), (3, 7)]
    x_cases = [(f"an input of shape {[b, s, d]}", ctx.normal(b, s, d)) for b, s in sizes]
    y_cases = [(f"an input of shape {[b, h, s, hd]}", ctx.normal(b, h, s, hd)) for b, s in sizes]

    def split_ref(x):  # out[b, i, t, :] == x[b, t, i * hd:(i + 1) * hd]
        b, s, _ = x.shape
        return x.reshape(b, s, h, hd).transpose(0, 2, 1, 3)

    def merge_ref(y):
        b, _, s, _ = y.shape
        return y.transpose(0, 2, 1, 3).reshape(b, s, d)

    ctx.compare("merge_heads(split_heads(x)), which must give x back", x_cases,
                lambda x: merge(split(ctx.tensor(x))), lambda x: x,
                [Mistake(MERGED_BY_RESHAPE, lambda x: split_ref(x).reshape(x.shape)),
                 Mistake(SPLIT_BY_RESHAPE, lambda x: merge_ref(x.reshape(x.shape[0], h, x.shape[1], hd)))],
                probe=Probe("split_heads(x)", lambda x: [x.shape[0], h, x.shape[1], hd],
                            "print(self.split_heads(x).shape)"))
    ctx.compare(f"split_heads (head i of token t must be x[:, t, i*{hd}:(i+1)*{hd}], at out[:, i, t, :])",
                x_cases, lambda x: split(ctx.tensor(x)), split_ref,
                [Mistake(SPLIT_BY_RESHAPE, lambda x: x.reshape(x.shape[0], h, x.shape[1], hd))],
                probe=Probe("split_heads(x) after the reshape, before the transpose",
                            lambda x: [x.shape[0], x.shape[1], h, hd], "print(t.shape)"))
    ctx.compare("merge_heads", y_cases, lambda y: merge(ctx.tensor(y)), merge_ref,
                [Mistake(MERGED_BY_RESHAPE, lambda y: y.reshape(y.shape[0], y.shape[2], d))],
                probe=Probe("merge_heads(x) after the transpose, before the reshape",
                            lambda y: [y.shape[0], y.shape[2], h, hd], "print(t.shape)"))
    return (f"split_heads puts head i's {hd} features of token t at out[:, i, t, :], and merge_heads undoes it "
            f"({len(sizes)} shapes)")


@checks.behaviour("GPT2MultiHeadAttention.forward matches the reference on random inputs")
def behaviour(ctx):
    cfg = ctx.config()
    d, h = cfg.n_embd, cfg.n_head
    learner, _, w = ctx.paired("GPT2MultiHeadAttention", cfg)
    cases = [(f"an input of shape {[b, s, d]}", ctx.normal(b, s, d)) for b, s in [(1, 1), (2, 5), (3, 7), (1, 16)]]

    def wrong(message, **knobs):
        return Mistake(message, lambda x: attention(w, x, h, **knobs))

    reshaped = SPLIT_BY_RESHAPE
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
        wrong(MERGED_BY_RESHAPE, merge="reshape"),
        *[wrong("q, k and v taken from c_attn's output in the wrong order: it is q | k | v along the last axis",
                order=order) for order in [(0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0)]],
        wrong("c_proj is not applied: the merged heads go through c_proj", proj=False),
    ]
    weights = Probe("the attention weights after the softmax: rows sum to 1, zeros above the diagonal",
                    lambda x: [x.shape[0], h, x.shape[1], x.shape[1]], "print(weights.shape, weights.to_numpy()[0, 0])")
    return ctx.compare("GPT2MultiHeadAttention.forward", cases, lambda x: learner(ctx.tensor(x)),
                       lambda x: attention(w, x, h), mistakes, probe=weights)  # numpy, float64: the reference's numbers


@checks.behaviour(ON_GPU)
def on_gpu(ctx):
    cfg = ctx.config()
    return ctx.forward_on_gpu("GPT2MultiHeadAttention", [cfg], "float32", ["batch", "seq", cfg.n_embd])
