"""Step 10 checks: GPT2Model, embeddings through every block to ln_f.

Also home to a numpy GPT-2 (float64) that steps 11 and 12 reuse to reproduce known mistakes.
"""

import math

import numpy as np

from gpt2tutor.checking import CheckFailed, Mistake, Probe, StepChecks

checks = StepChecks()


# --- GPT-2 in numpy: weights are a state dict with GPT2Model's names -------------------------

def softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def layer_norm(x, w, name, eps):
    mean, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * w[f"{name}.weight"] + w[f"{name}.bias"]


def linear(x, w, name):
    return x @ w[f"{name}.weight"].T + w[f"{name}.bias"]


def block(x, w, name, cfg):
    batch, seq, d = x.shape
    head_dim = d // cfg.n_head

    def heads(t):
        return t.reshape(batch, seq, cfg.n_head, head_dim).transpose(0, 2, 1, 3)

    qkv = linear(layer_norm(x, w, f"{name}.ln_1", cfg.layer_norm_epsilon), w, f"{name}.attn.c_attn")
    q, k, v = (heads(t) for t in np.split(qkv, 3, axis=-1))
    scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(head_dim) + np.triu(np.full((seq, seq), -np.inf), 1)
    attended = (softmax(scores) @ v).transpose(0, 2, 1, 3).reshape(batch, seq, d)
    x = x + linear(attended, w, f"{name}.attn.c_proj")
    h = linear(layer_norm(x, w, f"{name}.ln_2", cfg.layer_norm_epsilon), w, f"{name}.mlp.c_fc")
    h = 0.5 * h * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (h + 0.044715 * h**3)))
    return x + linear(h, w, f"{name}.mlp.c_proj")


def hidden_states(w, input_ids, cfg, *, blocks=None, first_position=0, positions=True, final_norm=True):
    """GPT2Model.forward in numpy; the keywords reproduce the usual mistakes."""
    w = {name: value.astype(np.float64) for name, value in w.items()}
    seq = input_ids.shape[1]
    x = w["wte.weight"][input_ids]
    if positions:
        x = x + np.take(w["wpe.weight"], np.arange(first_position, first_position + seq), axis=0, mode="clip")
    for i in range(cfg.n_layer) if blocks is None else blocks:
        x = block(x, w, f"h.{i}", cfg)
    return layer_norm(x, w, "ln_f", cfg.layer_norm_epsilon) if final_norm else x


# --- shared structure helpers -------------------------------------------------------------------

def reference_shapes(ctx, name, cfg):
    return {n: tuple(int(d) for d in t.shape) for n, t in ctx.reference_build(name, cfg).parameters}


def shared_parameters(ctx, module, owner):
    """Pairs of parameter names that are one and the same tensor (one module reused under two names)."""
    first, pairs = {}, []
    for name, tensor in ctx.call(f"listing the parameters of {owner}", lambda: list(module.parameters)):
        if id(tensor) in first:
            pairs.append((first[id(tensor)], name))
        else:
            first[id(tensor)] = name
    return pairs


# --- the checks ---------------------------------------------------------------------------------

@checks.structure("GPT2Model(config) holds wte, wpe, one block per layer in h, and ln_f, with GPT-2's names")
def structure(ctx):
    cls = ctx.module_class("GPT2Model")
    ctx.expect_parameters_named(cls.__init__, "GPT2Model.__init__", ["config"])
    cfg = ctx.config(n_layer=3)  # not the 2 used below, so a hard-coded count shows
    model = ctx.build(cls, cfg)
    shared = shared_parameters(ctx, model, "GPT2Model")
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
    ctx.expect_parameters(model, reference_shapes(ctx, "GPT2Model", cfg), "GPT2Model")


@checks.behaviour("GPT2Model.forward: token + position embeddings, every block in order, then ln_f")
def behaviour(ctx):
    cfg = ctx.config()
    learner, reference, w = ctx.paired("GPT2Model", cfg)
    shapes = [(1, 1), (3, 5), (2, cfg.n_positions)]
    cases = [(f"input_ids of shape {list(s)}", ctx.token_ids(cfg.vocab_size, *s)) for s in shapes]
    last = cfg.n_layer - 1

    def wrong(**mistake):
        return lambda ids: hidden_states(w, ids, cfg, **mistake)

    def ln_f_every_block(ids):
        w64 = {name: value.astype(np.float64) for name, value in w.items()}
        x = hidden_states(w, ids, cfg, blocks=[], final_norm=False)  # the embeddings
        for i in range(cfg.n_layer):
            x = layer_norm(block(x, w64, f"h.{i}", cfg), w64, "ln_f", cfg.layer_norm_epsilon)
        return x

    mistakes = [
        Mistake("the position embeddings were not added: x = wte(input_ids) + wpe(positions)", wrong(positions=False)),
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
    ]
    embedded = Probe("x after adding the position embeddings, before the first block",
                     lambda ids: [*ids.shape, cfg.n_embd], "print(x.shape, x.to_numpy()[0, :, 0])")
    return ctx.compare("GPT2Model.forward", cases, lambda ids: learner(ctx.tensor(ids)),
                       lambda ids: reference(ctx.tensor(ids)), mistakes, probe=embedded)
