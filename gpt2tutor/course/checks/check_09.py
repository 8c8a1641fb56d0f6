"""Step 09 checks: the transformer block GPT2Block."""

import dataclasses

import numpy as np

from gpt2tutor.checking import ON_GPU, CheckFailed, Mistake, Probe, StepChecks
from gpt2tutor.checking.numpy_gpt2 import EPS, block

checks = StepChecks()


def block_mistakes(ref):
    """Known wrong blocks of a Tensor, composed from the reference block's own ln_1, attn, ln_2 and mlp."""
    ln_1, attn, ln_2, mlp = ref.ln_1, ref.attn, ref.ln_2, ref.mlp
    mlp_first = "the MLP runs before attention: attention comes first, then the MLP reads its result"

    def two(first, second):
        return lambda x: second(first(x))

    return [
        Mistake("post-norm: each sum is normalized, ln(x + sublayer(x)); GPT-2 normalizes only what each "
                "sublayer reads, x + sublayer(ln(x))",
                two(lambda x: ln_1(x + attn(x)), lambda h: ln_2(h + mlp(h)))),
        Mistake("the residual around attention is missing: x + attn(ln_1(x)), not attn(ln_1(x))",
                two(lambda x: attn(ln_1(x)), lambda h: h + mlp(ln_2(h)))),
        Mistake("the residual around the MLP is missing: the second line is a + mlp(ln_2(a)), with "
                "a = x + attn(ln_1(x)), not mlp(ln_2(a))",
                two(lambda x: x + attn(ln_1(x)), lambda h: mlp(ln_2(h)))),
        Mistake("the attention output is thrown away: the second line starts again from the block's input, "
                "x + mlp(ln_2(x)); it must read a = x + attn(ln_1(x)): a + mlp(ln_2(a))",
                lambda x: x + mlp(ln_2(x))),
        Mistake("ln_1 and ln_2 are swapped: ln_1 goes before attention, ln_2 before the MLP",
                two(lambda x: x + attn(ln_2(x)), lambda h: h + mlp(ln_1(h)))),
        Mistake("the MLP reads ln_1 again: each sublayer has a LayerNorm of its own (with weights of its own), "
                "ln_1 before attention and ln_2 before the MLP: a + mlp(ln_2(a))",
                two(lambda x: x + attn(ln_1(x)), lambda h: h + mlp(ln_1(h)))),
        Mistake("attention reads ln_2 as well: each sublayer has a LayerNorm of its own, ln_1 before attention "
                "(x + attn(ln_1(x))) and ln_2 before the MLP",
                two(lambda x: x + attn(ln_2(x)), lambda h: h + mlp(ln_2(h)))),
        Mistake(mlp_first, two(lambda x: x + mlp(ln_2(x)), lambda h: h + attn(ln_1(h)))),
        Mistake(mlp_first, two(lambda x: x + mlp(ln_1(x)), lambda h: h + attn(ln_2(h)))),
        Mistake("attention and the MLP both read the block's input (the parallel layout): GPT-2's MLP reads "
                "a = x + attn(ln_1(x)), the output of the attention residual",
                lambda x: x + attn(ln_1(x)) + mlp(ln_2(x))),
        Mistake("attention and the MLP both read one LayerNorm of the block's input, x + attn(ln_1(x)) + "
                "mlp(ln_1(x)): that is GPT-J's parallel block; GPT-2's MLP reads ln_2(a), "
                "with a = x + attn(ln_1(x))",
                lambda x: x + attn(ln_1(x)) + mlp(ln_1(x))),
        Mistake("the normalized x is added back, ln(x) + sublayer(ln(x)): add the un-normalized stream",
                two(lambda x: ln_1(x) + attn(ln_1(x)), lambda h: ln_2(h) + mlp(ln_2(h)))),
    ]


@checks.structure("GPT2Block(config) holds ln_1, attn, ln_2 and mlp with GPT-2's names and shapes")
def structure(ctx):
    cfg = ctx.config()
    block = ctx.learner_module("GPT2Block", ["config"], cfg)
    shared = ctx.shared_parameters(block, "GPT2Block")
    if shared:
        a, b = shared[0]
        raise CheckFailed(f"{a} and {b} are the same tensor: one module serves as two (`self.ln_2 = self.ln_1`, "
                          "say), so both would hold one set of weights. Build each sub-module of its own: ln_1 and "
                          "ln_2 are two LayerNorms, each with its own weight and bias")
    ctx.expect_reference_parameters(block, "GPT2Block", cfg)


@checks.behaviour("GPT2Block.forward matches the reference on random inputs")
def behaviour(ctx):
    cfg = ctx.config(layer_norm_epsilon=EPS)
    learner, reference, weights = ctx.paired("GPT2Block", cfg)
    default_eps = ctx.reference_build("GPT2Block", dataclasses.replace(cfg, layer_norm_epsilon=1e-5))
    default_eps.load_state_dict(weights)
    d = cfg.n_embd
    w64 = {name: value.astype(np.float64) for name, value in weights.items()}
    cases = [(f"an input of shape {[b, s, d]}", ctx.normal(b, s, d)) for b, s in [(1, 1), (2, 5), (3, 7), (1, 16)]]
    stream = Probe("the stream after the attention residual, a = x + attn(ln_1(x))", lambda x: x.shape,
                   "print(a.shape, a.to_numpy()[0, :, 0])")
    eps_ignored = Mistake("ln_1 and ln_2 ignore config.layer_norm_epsilon (they use LayerNorm's default eps): "
                          "LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)", default_eps)
    mistakes = [Mistake(m.message, lambda x, fn=m.output: fn(ctx.tensor(x)))
                for m in [*block_mistakes(reference), eps_ignored]]  # the reference's own parts, run on MAX
    return ctx.compare("GPT2Block.forward", cases, lambda x: learner(ctx.tensor(x)),
                       lambda x: block(x.astype(np.float64), w64, "", cfg),  # numpy, float64: the reference's numbers
                       mistakes, probe=stream)


@checks.behaviour(ON_GPU)
def on_gpu(ctx):
    cfg = ctx.config()
    return ctx.forward_on_gpu("GPT2Block", [cfg], "float32", ["batch", "seq", cfg.n_embd])
