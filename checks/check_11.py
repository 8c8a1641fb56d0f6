"""Step 11 checks: GPT2LMHeadModel, the transformer followed by a bias-free lm_head."""

import numpy as np

from gpt2tutor.checking import CheckFailed, Mistake, StepChecks

from .check_10 import hidden_states, layer_norm, reference_shapes, shared_parameters, softmax

checks = StepChecks()


@checks.structure("GPT2LMHeadModel(config) holds transformer (a GPT2Model) and lm_head without a bias")
def structure(ctx):
    cls = ctx.module_class("GPT2LMHeadModel")
    ctx.expect_parameters_named(cls.__init__, "GPT2LMHeadModel.__init__", ["config"])
    cfg = ctx.config()
    model = ctx.build(cls, cfg)
    names = dict(ctx.call("listing the parameters of GPT2LMHeadModel", lambda: list(model.parameters)))
    if "lm_head.bias" in names:
        raise CheckFailed("lm_head has a bias, but GPT-2's head has none (its weight is the token embedding table): "
                          "Linear(config.n_embd, config.vocab_size, bias=False)")
    shared = shared_parameters(ctx, model, "GPT2LMHeadModel")
    if shared:
        a, b = shared[0]
        raise CheckFailed(f"{a} and {b} are the same tensor: keep lm_head a weight of its own. GPT-2 ties it to wte "
                          "by value, and the weight loader copies wte's values into lm_head.weight")
    ctx.expect_parameters(model, reference_shapes(ctx, "GPT2LMHeadModel", cfg), "GPT2LMHeadModel")


@checks.behaviour("GPT2LMHeadModel.forward returns lm_head(transformer(input_ids)): raw logits for every position")
def behaviour(ctx):
    cfg = ctx.config()
    learner, reference, w = ctx.paired("GPT2LMHeadModel", cfg)
    body = {name.removeprefix("transformer."): value for name, value in w.items() if name.startswith("transformer.")}
    head = w["lm_head.weight"].astype(np.float64)
    shapes = [(1, 1), (3, 5), (2, cfg.n_positions)]
    cases = [(f"input_ids of shape {list(s)}", ctx.token_ids(cfg.vocab_size, *s)) for s in shapes]

    def logits(ids, **mistake):
        return hidden_states(body, ids, cfg, **mistake) @ head.T

    def ln_f_twice(ids):
        return layer_norm(hidden_states(body, ids, cfg), body, "ln_f", cfg.layer_norm_epsilon) @ head.T

    mistakes = [
        Mistake("the logits came from transformer.wte's weights, not lm_head's: compute them with self.lm_head "
                "(the weight loader fills it with GPT-2's copy of wte)",
                lambda ids: hidden_states(body, ids, cfg) @ body["wte.weight"].T.astype(np.float64)),
        Mistake("ln_f was skipped: lm_head reads the output of self.transformer, which ends with ln_f",
                lambda ids: logits(ids, final_norm=False)),
        Mistake("ln_f was applied twice: GPT2Model.forward already ends with it", ln_f_twice),
        Mistake("softmax was applied: forward returns the raw logits; turning them into probabilities is "
                "generation's job (step 14)", lambda ids: softmax(logits(ids))),
        Mistake("log_softmax was applied: forward returns the raw logits, not log-probabilities",
                lambda ids: np.log(softmax(logits(ids)))),
    ]
    return ctx.compare("GPT2LMHeadModel.forward", cases, lambda ids: learner(ctx.tensor(ids)),
                       lambda ids: reference(ctx.tensor(ids)), mistakes)
