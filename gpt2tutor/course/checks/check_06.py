"""Step 06 checks: position embeddings, GPT2PositionEmbeddings.

The result may be [seq, n_embd], [1, seq, n_embd] or [batch, seq, n_embd]: anything that broadcasts
to [batch, seq, n_embd] is broadcast to it before comparing.
"""

import numpy as np

from gpt2tutor.checking import ON_GPU, CheckFailed, Mistake, Probe, StepChecks
from gpt2tutor.checking.embedding import built

checks = StepChecks()


def spread(out, ids, n_embd):
    """`out` broadcast to [batch, seq, n_embd] when it broadcasts, else as it is (its shape is then reported)."""
    try:
        return np.broadcast_to(out, (*ids.shape, n_embd))
    except ValueError:
        return out


@checks.structure("GPT2PositionEmbeddings(config) holds wpe, an [n_positions, n_embd] Embedding")
def structure(ctx):
    cfg = ctx.config()
    module = built(ctx, "GPT2PositionEmbeddings", "n_positions", cfg)
    ctx.refuse_known_shapes(module, "wpe.weight", {
        (cfg.n_embd, cfg.n_positions): "the table is transposed: one row per position, [n_positions, n_embd]",
        (cfg.vocab_size, cfg.n_embd): "the table has vocab_size rows: positions need n_positions rows, one per place "
                                      "in the context",
    })
    ctx.expect_reference_parameters(module, "GPT2PositionEmbeddings", cfg)


@checks.behaviour("GPT2PositionEmbeddings.forward gives the embeddings of positions 0 .. seq-1")
def behaviour(ctx):
    cfg = ctx.config()
    learner, reference, w = ctx.paired("GPT2PositionEmbeddings", cfg)
    table, d, most = w["wpe.weight"], cfg.n_embd, cfg.n_positions
    # batch != seq, so that the two axes cannot be mixed up unseen; token ids below n_positions, so that
    # looking them up as positions stays in the table and is named; the full context comes last
    sizes = [(1, int(ctx.rng.integers(2, 6))), (int(ctx.rng.integers(2, 4)), int(ctx.rng.integers(6, most))),
             (int(ctx.rng.integers(2, 4)), 1), (2, most)]
    cases = [(f"input_ids of shape {[b, s]}", ctx.token_ids(most, b, s)) for b, s in sizes]
    mistakes = [
        Mistake("positions start at 1: the first token sits at position 0, so look up rows 0 .. seq-1",
                lambda ids: spread(table[1:ids.shape[1] + 1], ids, d)),
        Mistake("the token ids were looked up: a position embedding depends only on where a token sits, "
                "so look up the positions 0 .. seq-1 (Tensor.arange)", lambda ids: table[ids]),
        Mistake("the positions are reversed: the first token gets row 0, the last row seq-1",
                lambda ids: spread(table[ids.shape[1] - 1::-1], ids, d)),
        Mistake("returned the whole table: only the first seq rows are needed, one per position",
                lambda ids: table),
        Mistake("the batch size was taken as the length: the sequence length is input_ids.shape[-1]",
                lambda ids: spread(table[:ids.shape[0]], ids, d)),
    ]
    try:
        return ctx.compare(
            "GPT2PositionEmbeddings.forward (broadcast to [batch, seq, n_embd])", cases,
            lambda ids: spread(ctx.as_array(learner(ctx.tensor(ids)), "GPT2PositionEmbeddings"), ids, d),
            lambda ids: spread(ctx.as_array(reference(ctx.tensor(ids)), "the reference"), ids, d),
            mistakes, probe=Probe("the positions you look up: 0, 1, ..., seq - 1, int64",
                                  lambda ids: [ids.shape[-1]], "print(positions.to_numpy())"))
    except CheckFailed as failed:  # a float arange fails inside MAX's gather
        if "Gather" in str(failed) and "float" in str(failed):
            raise CheckFailed(f"{failed}\nLikely mistake: the positions are floats (Tensor.arange's default dtype): "
                              "an Embedding looks up integers, so pass dtype=DType.int64") from None
        raise


@checks.behaviour(ON_GPU)
def on_gpu(ctx):
    cfg = ctx.config()
    return ctx.forward_on_gpu("GPT2PositionEmbeddings", [cfg], "int64", ["batch", "seq"])
