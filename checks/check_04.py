"""Step 04 checks: the feed-forward network GPT2MLP."""

import math

import numpy as np

from gpt2tutor.checking import CheckFailed, Mistake, Probe, StepChecks

checks = StepChecks()


def gelu_tanh(x):
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


def gelu_erf(x):
    return 0.5 * x * (1.0 + np.vectorize(math.erf)(x / math.sqrt(2.0)))


def mlp(w, x, act=gelu_tanh, fc="c_fc", proj="c_proj"):
    h = x @ w[f"{fc}.weight"].T + w[f"{fc}.bias"]
    return act(h) @ w[f"{proj}.weight"].T + w[f"{proj}.bias"]


@checks.structure("GPT2MLP(intermediate_size, config) holds c_fc and c_proj with GPT-2's shapes")
def structure(ctx):
    cls = ctx.module_class("GPT2MLP")
    ctx.expect_parameters_named(cls.__init__, "GPT2MLP.__init__", ["intermediate_size", "config"])
    cfg = ctx.config()
    d, inner = cfg.n_embd, cfg.n_inner
    module = ctx.build(cls, inner, cfg)
    shapes = dict(ctx.call("listing the parameters of GPT2MLP",
                           lambda: [(n, tuple(int(k) for k in t.shape)) for n, t in module.parameters]))
    if shapes.get("c_fc.weight") == (d, inner) and shapes.get("c_fc.bias") == (d,):
        raise CheckFailed(f"c_fc maps {inner} features to {d}, the wrong way: Linear takes the input size first, "
                          f"then the output size, so c_fc is Linear(n_embd, intermediate_size) = Linear({d}, {inner})")
    ctx.expect_parameters(
        module,
        {"c_fc.weight": (inner, d), "c_fc.bias": (inner,), "c_proj.weight": (d, inner), "c_proj.bias": (d,)},
        "GPT2MLP",
    )


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
