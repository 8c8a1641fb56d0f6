"""Step 03 checks: LayerNorm over the last axis."""

import numpy as np

from gpt2tutor.checking import ON_GPU, CheckFailed, Mistake, Probe, StepChecks
from gpt2tutor.checking.numpy_gpt2 import layer_norm

checks = StepChecks()
TOLERANCE = 1e-4  # float32 reformulations stay within 5e-6 here; the nearest mistake (N - 1) lies 100x outside


def rows(ctx, shape, eps):
    """Random rows with means away from 0, about half with a variance near eps, so that every eps mistake shows."""
    n = int(np.prod(shape[:-1]))
    small = ctx.rng.permutation(n) < (n + 1) // 2
    spread = np.where(small, np.sqrt(eps) * 10 ** ctx.rng.uniform(-0.5, 0.5, n), 10 ** ctx.rng.uniform(-0.5, 0.5, n))
    x = spread[:, None] * (ctx.rng.standard_normal((n, shape[-1])) + 2.0 * ctx.rng.standard_normal((n, 1)))
    return x.reshape(shape).astype(np.float32)


def mistakes(w, eps, default):
    """Known wrong LayerNorms for weights w and the eps the module was built with (most specific first)."""
    if default:
        eps_slip = Mistake("the default eps is 1e-6: LayerNorm(dim) must default to eps=1e-5, GPT-2's",
                           lambda x: layer_norm(x, w, 1e-6))
    else:
        eps_slip = Mistake("the eps passed to LayerNorm(dim, eps=...) is ignored: use the eps the module was given",
                           lambda x: layer_norm(x, w, 1e-5))
    return [
        eps_slip,
        Mistake("eps has no effect (left out, or something tiny like 1e-12), so rows with a small variance blow up: "
                "add eps to the variance inside the square root",
                lambda x: layer_norm(x, w, 0.0)),
        Mistake("eps added outside the square root, (x - mean) / (sqrt(var) + eps): "
                "it belongs inside, (x - mean) / sqrt(var + eps)",
                lambda x: layer_norm(x, w, eps, divide=lambda var, e: np.sqrt(var) + e)),
        Mistake("divided by the variance, not the standard deviation: (x - mean) / sqrt(var + eps)",
                lambda x: layer_norm(x, w, eps, divide=lambda var, e: var + e)),
        Mistake("unbiased variance (divided by N - 1): LayerNorm divides the squared deviations by N",
                lambda x: layer_norm(x, w, eps, ddof=1)),
        Mistake("mean and variance over the wrong axis: each vector is normalized on its own, along the last axis",
                lambda x: layer_norm(x, w, eps, axis=0)),
        Mistake("mean and variance over the whole tensor: each vector is normalized on its own, along the last axis",
                lambda x: layer_norm(x, w, eps, axis=None)),
        Mistake("mean and variance over the sequence axis (axis=1 of [batch, seq, dim], or axis=-2): that mixes "
                "tokens; each token's vector is normalized on its own, along the last axis (axis=-1)",
                lambda x: layer_norm(x, w, eps, axis=-2)),
        Mistake("the mean is never subtracted: x / sqrt(mean(x²) + eps) is RMSNorm (Llama's), not LayerNorm; "
                "centre first, (x - mean) / sqrt(var + eps)",
                lambda x: layer_norm(x, w, eps, centre=False)),
        Mistake("the mean is never subtracted and bias unused: x / sqrt(mean(x²) + eps) * weight is RMSNorm "
                "(Llama's), not LayerNorm; centre first, (x - mean) / sqrt(var + eps), and add self.bias",
                lambda x: layer_norm(x, w, eps, centre=False, shift=False)),
        Mistake("weight and bias swapped (γ and β): the normalized values are multiplied by self.weight, then "
                "self.bias is added; F.layer_norm takes them in that order, (x, weight, bias, eps)",
                lambda x: layer_norm(x, {"weight": w["bias"], "bias": w["weight"]}, eps)),
        Mistake("weight and bias unused: after normalizing, multiply by self.weight and add self.bias",
                lambda x: layer_norm(x, w, eps, scale=False, shift=False)),
        Mistake("bias unused: after scaling by self.weight, add self.bias",
                lambda x: layer_norm(x, w, eps, shift=False)),
        Mistake("weight unused: multiply the normalized values by self.weight before adding self.bias",
                lambda x: layer_norm(x, w, eps, scale=False)),
    ]


@checks.structure("LayerNorm(dim, *, eps) holds weight (ones) and bias (zeros) of shape [dim]")
def structure(ctx):
    dim = int(ctx.rng.integers(5, 40))
    module = ctx.learner_module("LayerNorm", ["dim", "eps"], dim)
    ctx.expect_reference_parameters(module, "LayerNorm", dim)
    values = {name: ctx.as_array(t, f"LayerNorm's {name}") for name, t in module.parameters}
    for name, start in [("weight", 1.0), ("bias", 0.0)]:
        if not np.array_equal(values[name], np.full(dim, start, np.float32)):
            raise CheckFailed(f"LayerNorm's {name} should start as all {start:g}s, so that a fresh LayerNorm "
                              f"only normalizes; it starts as {values[name][:4]}...")


@checks.behaviour("LayerNorm(dim) normalizes the last axis like the reference, eps=1e-5 by default")
def default_eps(ctx):
    return compare(ctx, 1e-5, default=True)


@checks.behaviour("LayerNorm(dim, eps=...) uses the eps it is given")
def given_eps(ctx):
    return compare(ctx, float(10 ** ctx.rng.uniform(-3, -2)), default=False)


NORMALIZED = Probe("x normalized, before weight and bias: every row's mean near 0 and variance near 1",
                   lambda x: x.shape, "print(x_hat.shape, x_hat.to_numpy().mean(-1), x_hat.to_numpy().var(-1))")


def compare(ctx, eps, default):
    """The learner's LayerNorm against the reference, both built with eps (or the default when `default`)."""
    dim = int(ctx.rng.integers(6, 40))
    learner, reference, w = ctx.paired("LayerNorm", dim) if default else ctx.paired("LayerNorm", dim, eps=eps)
    b, s = (int(n) for n in ctx.rng.integers(2, 6, size=2))
    shapes = [(b, s, dim), (int(ctx.rng.integers(4, 9)), dim), (1, b, s, dim)]
    cases = [(f"an input of shape {list(shape)}", rows(ctx, shape, eps)) for shape in shapes]
    what = "LayerNorm(dim).forward" if default else f"LayerNorm(dim, eps={eps:.2g}).forward"
    return ctx.compare(what, cases, lambda x: learner(ctx.tensor(x)), lambda x: reference(ctx.tensor(x)),
                       mistakes(w, eps, default), atol=TOLERANCE, rtol=TOLERANCE, probe=NORMALIZED)


@checks.behaviour(ON_GPU)
def on_gpu(ctx):
    return ctx.forward_on_gpu("LayerNorm", [24], "float32", ["batch", "seq", 24])
