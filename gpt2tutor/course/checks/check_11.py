"""Step 11 checks: GPT2LMHeadModel, the transformer followed by a bias-free lm_head."""

import numpy as np

from gpt2tutor.checking import ON_GPU, CheckFailed, Mistake, Probe, StepChecks
from gpt2tutor.checking.numpy_gpt2 import EPS, hidden_states, layer_norm, softmax

checks = StepChecks()


@checks.structure("GPT2LMHeadModel(config) holds transformer (a GPT2Model) and lm_head without a bias")
def structure(ctx):
    cfg = ctx.config()
    model = ctx.learner_module("GPT2LMHeadModel", ["config"], cfg)
    shapes = ctx.call("listing the parameters of GPT2LMHeadModel", ctx.shapes, model)
    if "lm_head.bias" in shapes:
        raise CheckFailed("lm_head has a bias, but GPT-2's head has none (its weight is the token embedding table): "
                          "Linear(config.n_embd, config.vocab_size, bias=False)")
    head = shapes.get("lm_head.weight")
    if head == (cfg.n_embd, cfg.vocab_size):
        raise CheckFailed(f"lm_head.weight has shape {list(head)}: Linear(vocab_size, n_embd) maps the wrong way. "
                          "The head reads n_embd features and writes vocab_size scores: Linear(n_embd, vocab_size), "
                          "a [vocab_size, n_embd] weight")
    shared = ctx.shared_parameters(model, "GPT2LMHeadModel")
    if shared:
        a, b = shared[0]
        raise CheckFailed(f"{a} and {b} are the same tensor: keep lm_head a weight of its own. HuggingFace's GPT-2 "
                          "shares one tensor between the two; this tutor keeps a copy instead (MAX loads parameters "
                          "by name, strictly), and its weight loader copies wte's values into lm_head.weight")
    ctx.expect_reference_parameters(model, "GPT2LMHeadModel", cfg)


@checks.behaviour("GPT2LMHeadModel.forward returns lm_head(transformer(input_ids)): raw logits for every position")
def behaviour(ctx):
    cfg = ctx.config(layer_norm_epsilon=EPS)  # not LayerNorm's default, so ignoring it shows
    learner, _, w = ctx.paired("GPT2LMHeadModel", cfg)
    body = {name.removeprefix("transformer."): value for name, value in w.items() if name.startswith("transformer.")}
    head = w["lm_head.weight"].astype(np.float64)
    shapes = [(1, 1), (3, 5), (2, cfg.n_positions)]
    cases = [(f"input_ids of shape {list(s)}", ctx.token_ids(cfg.vocab_size, *s)) for s in shapes]

    def logits(ids, **mistake):
        return hidden_states(body, ids, cfg, **mistake) @ head.T

    def ln_f_twice(ids):
        return layer_norm(hidden_states(body, ids, cfg), body, cfg.layer_norm_epsilon, prefix="ln_f.") @ head.T

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
        *[Mistake("only the last position's logits were returned: forward returns every position's, "
                  "[batch, seq, vocab_size]; picking the last one is generation's job (step 12)", fn)
          for fn in (lambda ids: logits(ids)[:, -1:], lambda ids: logits(ids)[:, -1])],
    ]
    hidden = Probe("the transformer's output, the hidden states lm_head reads", lambda ids: [*ids.shape, cfg.n_embd],
                   "print(hidden.shape, hidden.to_numpy()[0, -1, :4])")
    return ctx.compare("GPT2LMHeadModel.forward", cases, lambda ids: learner(ctx.tensor(ids)),
                       logits, mistakes, probe=hidden)  # numpy, float64: the reference's numbers


@checks.behaviour(ON_GPU)
def on_gpu(ctx):
    cfg = ctx.config()
    return ctx.forward_on_gpu("GPT2LMHeadModel", [cfg], "int64", ["batch", "seq"])
