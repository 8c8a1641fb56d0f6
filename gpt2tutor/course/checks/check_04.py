"""Step 04 checks: the feed-forward network GPT2MLP."""

import numpy as np

from gpt2tutor.checking import ON_GPU, Mistake, Probe, StepChecks
from gpt2tutor.checking.numpy_gpt2 import gelu_erf, gelu_tanh, mlp

checks = StepChecks()


@checks.structure("GPT2MLP(intermediate_size, config) holds c_fc and c_proj with GPT-2's shapes")
def structure(ctx):
    cfg = ctx.config()
    d, inner = cfg.n_embd, cfg.n_inner
    module = ctx.learner_module("GPT2MLP", ["intermediate_size", "config"], inner, cfg)
    ctx.refuse_known_shapes(module, "c_fc.weight", {
        (d, inner): f"c_fc maps {inner} features to {d}, the wrong way: Linear takes the input size first, "
                    f"then the output size, so c_fc is Linear(n_embd, intermediate_size) = Linear({d}, {inner})"})
    ctx.expect_reference_parameters(module, "GPT2MLP", inner, cfg)


@checks.behaviour("GPT2MLP.forward matches the reference on random inputs")
def behaviour(ctx):
    cfg = ctx.config()
    learner, reference, w = ctx.paired("GPT2MLP", cfg.n_inner, cfg)
    cases = [(f"an input of shape {list(s)}", ctx.normal(*s)) for s in [(1, 1, cfg.n_embd), (2, 5, cfg.n_embd), (3, 7, cfg.n_embd)]]
    mistakes = [
        Mistake("GELU computed exactly (with erf); GPT-2 uses the tanh approximation: F.gelu(x, approximate=\"tanh\")",
                lambda x: mlp(w, x, gelu_erf)),
        Mistake("ReLU instead of GELU", lambda x: mlp(w, x, lambda h: np.maximum(h, 0))),
        Mistake("no activation between c_fc and c_proj: two Linears in a row are just one Linear",
                lambda x: mlp(w, x, lambda h: h)),
        Mistake("the activation applied after c_proj instead of between c_fc and c_proj",
                lambda x: gelu_tanh(mlp(w, x, lambda h: h))),
    ]
    return ctx.compare("GPT2MLP.forward", cases, lambda x: learner(ctx.tensor(x)),
                       lambda x: reference(ctx.tensor(x)), mistakes,
                       probe=Probe("the hidden layer after c_fc and the GELU", lambda x: [*x.shape[:-1], cfg.n_inner],
                                   "print(h.shape, h.to_numpy().ravel()[:6])"))


@checks.behaviour(ON_GPU)
def on_gpu(ctx):
    cfg = ctx.config()
    return ctx.forward_on_gpu("GPT2MLP", [cfg.n_inner, cfg], "float32", ["batch", "seq", cfg.n_embd])
