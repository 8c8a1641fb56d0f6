"""Step 08 checks: apply_residual_connection and the pre-norm ResidualBlock."""

from gpt2tutor.checking import ON_GPU, Mistake, Probe, StepChecks, tensor_type, trace_module

checks = StepChecks()

DIM = 32


@checks.structure("apply_residual_connection(residual, sublayer_output) and ResidualBlock(dim, eps) holding ln")
def structure(ctx):
    ctx.function("apply_residual_connection", ["residual", "sublayer_output"])
    module = ctx.learner_module("ResidualBlock", ["dim", "eps"], DIM)
    ctx.expect_reference_parameters(module, "ResidualBlock", DIM)


@checks.behaviour("apply_residual_connection adds the sublayer's output to the residual")
def residual_sum(ctx):
    learner, reference = ctx.attr("apply_residual_connection"), ctx.reference.apply_residual_connection
    cases = [(f"two inputs of shape {list(s)}", (ctx.tensor(ctx.normal(*s)), ctx.tensor(ctx.normal(*s))))
             for s in [(1, 1, DIM), (2, 5, DIM)]]
    subtracted = "the two are subtracted: the residual stream grows by addition, residual + sublayer_output"
    mistakes = [
        Mistake(subtracted, lambda rs: rs[0] - rs[1]),
        Mistake(subtracted, lambda rs: rs[1] - rs[0]),
        Mistake("only `residual` is returned: add sublayer_output to it", lambda rs: rs[0]),
        Mistake("only `sublayer_output` is returned: add the residual to it", lambda rs: rs[1]),
    ]
    return ctx.compare("apply_residual_connection", cases, lambda rs: learner(*rs), lambda rs: reference(*rs), mistakes,
                       probe=Probe("both inputs", lambda rs: rs[0].shape,
                                   "print(residual.shape, sublayer_output.shape)"))


NORMED = Probe("what the sublayer reads, ln(x): every row's mean near 0",
               lambda case: (case[0] if isinstance(case, tuple) else case).shape,
               "print(normed.shape, normed.to_numpy().mean(-1))")


def sublayers(ctx):
    """Stand-ins for attention and the MLP: an affine map and a nonlinear one, built from MAX ops."""
    from max.experimental import functional as F

    w1, w2 = (ctx.tensor(ctx.normal(DIM, DIM, scale=DIM**-0.5)) for _ in range(2))
    b1 = ctx.tensor(ctx.normal(DIM, scale=0.3))
    return {"an affine sublayer": lambda h: h @ w1 + b1, "a tanh sublayer": lambda h: 2.0 * F.tanh(h @ w2)}


def pre_norm_mistakes(ln):
    """Known wrong ways to wrap sublayer f around x, given the block's own LayerNorm ln."""
    return [
        ("post-norm: the sum is normalized, ln(x + sublayer(x)); GPT-2 normalizes only what the sublayer reads, "
         "x + sublayer(ln(x))", lambda x, f: ln(x + f(x))),
        ("the residual is missing: sublayer(ln(x)) replaces x instead of being added to it",
         lambda x, f: f(ln(x))),
        ("the normalized x is added back, ln(x) + sublayer(ln(x)): add the original x, the residual stream "
         "is never normalized", lambda x, f: ln(x) + f(ln(x))),
        ("the sublayer reads x itself: it reads ln(x), x + sublayer(ln(x))", lambda x, f: x + f(x)),
    ]


@checks.behaviour("ResidualBlock.forward(x, sublayer) computes x + sublayer(ln(x)) for several sublayers")
def residual_block(ctx):
    learner, reference, _ = ctx.paired("ResidualBlock", DIM)
    subs = sublayers(ctx)
    shapes = [(1, 1), (2, 5), (3, 4), (2, 7)]
    cases = [(f"an input of shape {[b, s, DIM]} with {name}", (ctx.tensor(ctx.normal(b, s, DIM)), subs[name]))
             for (b, s), name in zip(shapes, [*subs, *subs])]
    mistakes = [Mistake(message, lambda case, fn=fn: fn(*case)) for message, fn in pre_norm_mistakes(reference.ln)]
    return ctx.compare("ResidualBlock.forward", cases, lambda case: learner(*case), lambda case: reference(*case),
                       mistakes, probe=NORMED)


@checks.behaviour("ResidualBlock(dim, eps) gives eps to its LayerNorm")
def residual_block_eps(ctx):
    eps = 0.5
    learner, reference, weights = ctx.paired("ResidualBlock", DIM, eps=eps)
    default = ctx.reference_build("ResidualBlock", DIM)
    default.load_state_dict(weights)
    affine = sublayers(ctx)["an affine sublayer"]
    # small activations, so that eps matters next to their variance
    cases = [(f"an input of shape {[2, 3, DIM]} scaled by 0.3", ctx.tensor(ctx.normal(2, 3, DIM, scale=0.3)))]
    mistakes = [Mistake("eps is not passed on: build the LayerNorm with LayerNorm(dim, eps=eps)",
                        lambda x: default(x, affine))]
    return ctx.compare(f"ResidualBlock({DIM}, eps={eps}).forward", cases,
                       lambda x: learner(x, affine), lambda x: reference(x, affine), mistakes, probe=NORMED)


@checks.behaviour(ON_GPU)
def on_gpu(ctx):
    cls = ctx.module_class("ResidualBlock")
    add = ctx.function("apply_residual_connection", ["residual", "sublayer_output"])
    return ctx.on_gpu("ResidualBlock.forward and apply_residual_connection", lambda gpu: trace_module(
        lambda: cls(24), lambda m, x: add(x, m(x, lambda y: y * 2.0)), [tensor_type("float32", ["batch", "seq", 24])]))
