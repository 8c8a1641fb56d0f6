"""Step 04 checks: the feed-forward network GPT2MLP."""


import numpy as np

from gpt2tutor.checking import Mistake, StepChecks

from ._numpy_gpt2 import gelu_erf, gelu_tanh, mlp

checks = StepChecks()


@checks.structure("GPT2MLP(intermediate_size, config) holds c_fc and c_proj with GPT-2's shapes")
def structure(ctx):
    cfg = ctx.config()
    module = ctx.learner_module("GPT2MLP", ["intermediate_size", "config"], cfg.n_inner, cfg)
    ctx.expect_reference_parameters(module, "GPT2MLP", cfg.n_inner, cfg)


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
                       lambda x: reference(ctx.tensor(x)), mistakes)
