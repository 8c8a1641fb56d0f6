"""Step 05 checks: token embeddings, GPT2Embeddings."""

import math

from gpt2tutor.checking import ON_GPU, Mistake, Probe, StepChecks
from gpt2tutor.checking.embedding import built

checks = StepChecks()


@checks.structure("GPT2Embeddings(config) holds wte, a [vocab_size, n_embd] Embedding")
def structure(ctx):
    cfg = ctx.config()
    module = built(ctx, "GPT2Embeddings", "vocab_size", cfg)
    v, d = cfg.vocab_size, cfg.n_embd
    ctx.refuse_known_shapes(module, "wte.weight", {
        (d, v): "the table is transposed: one row per token, [vocab_size, n_embd]",
        (v - 1, d): "the table has vocab_size - 1 rows: ids run from 0 to vocab_size - 1, one row each",
        (cfg.n_positions, d): "the table has n_positions rows, like the position table (step 06); "
                              "token ids need vocab_size rows",
    })
    ctx.expect_reference_parameters(module, "GPT2Embeddings", cfg)


@checks.behaviour("GPT2Embeddings.forward looks up each token's row")
def behaviour(ctx):
    cfg = ctx.config()
    learner, reference, w = ctx.paired("GPT2Embeddings", cfg)
    table, v = w["wte.weight"], cfg.vocab_size
    b1, s1, b2, s2 = (int(n) for n in ctx.rng.integers(2, 9, size=4))
    # ids below vocab_size - 1 at first, so that ids + 1 stays in the table and that slip is named;
    # then every id once, the first and the last included
    every = ctx.rng.permutation(v).reshape(1, v)
    cases = [(f"ids of shape {[b, s]}", ctx.token_ids(v - 1, b, s)) for b, s in [(1, s1), (b1, s2), (b2, 1)]]
    cases.append((f"ids of shape {list(every.shape)}, every id in the vocabulary", every))
    mistakes = [
        Mistake("returned the whole table: look up the rows of input_ids, self.wte(input_ids)", lambda ids: table),
        Mistake("each id looked up one row too far (id + 1): token id t is row t of the table",
                lambda ids: table[(ids + 1) % v]),
        Mistake("each id looked up one row too early (id - 1): token id t is row t of the table",
                lambda ids: table[ids - 1]),
        Mistake("scaled by sqrt(n_embd): GPT-2 uses the table's rows as they are",
                lambda ids: table[ids] * math.sqrt(cfg.n_embd)),
        Mistake("the batch is flattened: keep one row of vectors per sequence, [batch, seq, n_embd]",
                lambda ids: table[ids.reshape(-1)]),
    ]
    return ctx.compare("GPT2Embeddings.forward", cases, lambda ids: learner(ctx.tensor(ids)),
                       lambda ids: reference(ctx.tensor(ids)), mistakes,
                       probe=Probe("the ids you look up and the result", lambda ids: [*ids.shape, cfg.n_embd],
                                   "print(input_ids.to_numpy(), out.shape)"))


@checks.behaviour(ON_GPU)
def on_gpu(ctx):
    cfg = ctx.config()
    return ctx.forward_on_gpu("GPT2Embeddings", [cfg], "int64", ["batch", "seq"])
