"""Step 10 checks: GPT2Model, embeddings through every block to ln_f."""

import dataclasses

import numpy as np

from gpt2tutor.checking import ON_GPU, CheckFailed, Mistake, Probe, StepChecks
from gpt2tutor.checking.numpy_gpt2 import EPS, block, hidden_states, layer_norm

checks = StepChecks()


# --- the checks ---------------------------------------------------------------------------------

@checks.structure("GPT2Model(config) holds wte, wpe, one block per layer in h, and ln_f, with GPT-2's names")
def structure(ctx):
    cfg = ctx.config(n_layer=3)  # not the 2 used below, so a hard-coded count shows
    model = ctx.learner_module("GPT2Model", ["config"], cfg)
    shared = ctx.shared_parameters(model, "GPT2Model")
    if shared:
        a, b = shared[0]
        raise CheckFailed(
            f"{a} and {b} are the same tensor: the blocks in h are one GPT2Block object repeated, so every layer "
            f"would share one set of weights. Build a new GPT2Block(config) for each of the config.n_layer layers "
            f"(`[GPT2Block(config)] * n` repeats a single object)"
        )
    names = [name for name, _ in ctx.call("listing the parameters of GPT2Model", lambda: list(model.parameters))]
    nested = [name for name in names if name.startswith(("wte.wte.", "wpe.wpe."))]
    if nested:
        raise CheckFailed(f"GPT2Model holds {nested[0]}: your step-05/06 module was nested as wte or wpe, so its "
                          "table is named twice. Make wte and wpe Embeddings directly on GPT2Model, so that the "
                          "names are wte.weight and wpe.weight, as in the checkpoint")
    ctx.expect_reference_parameters(model, "GPT2Model", cfg)


@checks.behaviour("GPT2Model.forward: token + position embeddings, every block in order, then ln_f")
def behaviour(ctx):
    cfg = ctx.config(layer_norm_epsilon=EPS)
    learner, _, w = ctx.paired("GPT2Model", cfg)
    default_eps = dataclasses.replace(cfg, layer_norm_epsilon=1e-5)
    w64 = {name: value.astype(np.float64) for name, value in w.items()}
    shapes = [(1, 1), (3, 5), (2, cfg.n_positions)]
    cases = [(f"input_ids of shape {list(s)}", ctx.token_ids(cfg.vocab_size, *s)) for s in shapes]
    last = cfg.n_layer - 1

    def wrong(**mistake):
        return lambda ids: hidden_states(w, ids, cfg, **mistake)

    def ln_f_every_block(ids):
        x = hidden_states(w, ids, cfg, blocks=[], final_norm=False)  # the embeddings
        for i in range(cfg.n_layer):
            x = layer_norm(block(x, w64, f"h.{i}.", cfg), w64, cfg.layer_norm_epsilon, prefix="ln_f.")
        return x

    mistakes = [
        Mistake("the position embeddings were not added: x = wte(input_ids) + wpe(positions)", wrong(positions=False)),
        Mistake("the position embeddings were multiplied in: add them, x = wte(input_ids) + wpe(positions)",
                wrong(positions="multiplied")),
        Mistake("ln_f was applied after every block: it runs once, after the last block", ln_f_every_block),
        Mistake("ln_f was not applied: the final LayerNorm comes after the last block", wrong(final_norm=False)),
        Mistake("positions started at 1: the first token is at position 0, so positions run 0 .. seq-1",
                wrong(first_position=1)),
        Mistake("the blocks ran in reverse order: h.0 reads the embeddings, then h.1, and so on",
                wrong(blocks=range(last, -1, -1))),
        Mistake("only the first block (h.0) was applied: pass x through every block in h, in turn",
                wrong(blocks=[0])),
        Mistake("only the last block was applied, to the embeddings: in the loop, feed each block the previous "
                "block's output (x = block(x))", wrong(blocks=[last])),
        Mistake("h.0 was applied config.n_layer times: use each block of h once, in order",
                wrong(blocks=[0] * cfg.n_layer)),
        Mistake("ln_f ignores config.layer_norm_epsilon (it uses LayerNorm's default eps): "
                "LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)",
                lambda ids: layer_norm(hidden_states(w, ids, cfg, final_norm=False), w64, 1e-5, prefix="ln_f.")),
        Mistake("the LayerNorms ignore config.layer_norm_epsilon (they use LayerNorm's default eps): pass "
                "eps=config.layer_norm_epsilon to each", lambda ids: hidden_states(w, ids, default_eps)),
    ]
    embedded = Probe("x after adding the position embeddings, before the first block",
                     lambda ids: [*ids.shape, cfg.n_embd], "print(x.shape, x.to_numpy()[0, :, 0])")
    return ctx.compare("GPT2Model.forward", cases, lambda ids: learner(ctx.tensor(ids)),
                       wrong(), mistakes, probe=embedded)  # numpy, float64: the reference's numbers


@checks.behaviour(ON_GPU)
def on_gpu(ctx):
    cfg = ctx.config()
    return ctx.forward_on_gpu("GPT2Model", [cfg], "int64", ["batch", "seq"])
