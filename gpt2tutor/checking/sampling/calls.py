"""Calling the learner's generate_next_token and generate_tokens for check 14, their outputs checked for shape,
dtype and range before anything else is judged."""

import numpy as np

from ..failure import CheckFailed
from .slips import numpy_choice_slip
from .stand_ins import expect_cache_use, to_numpy


def next_tokens(ctx, value, logits_shape):
    """The learner's token ids as [batch, 1]; [batch] is accepted too."""
    batch, seq, vocab = logits_shape
    got = ctx.as_array(value, "generate_next_token")
    if got.shape not in ((batch, 1), (batch,)):
        hint = ""
        if vocab in got.shape:
            hint = ": the argmax or sample ran over the wrong axis; it must choose among the vocabulary, the last axis"
        elif seq > 1 and seq in got.shape:
            hint = ": a token came out for every position; only the last position's logits predict the next token"
        raise CheckFailed(f"generate_next_token returned shape {list(got.shape)} for logits of shape "
                          f"{[batch, seq, vocab]}: it should give one token id per sequence, [batch, 1] "
                          f"([batch] is accepted too){hint}")
    if got.dtype != np.int64:
        raise CheckFailed(f"generate_next_token returned {got.dtype} values: token ids are int64 "
                          "(`.cast(DType.int64)`)")
    if got.min() < 0 or got.max() >= vocab:
        raise CheckFailed(f"generate_next_token returned token id {got.max() if got.max() >= vocab else got.min()}, "
                          f"outside the vocabulary of these logits (0 .. {vocab - 1}): pick an index along the last "
                          "axis of the last position's logits")
    return got.reshape(batch, 1)


def sequences(ctx, value, batch, seq, new):
    got = ctx.as_array(value, "generate_tokens")
    if got.shape != (batch, seq + new):
        hint = " (only the new tokens? keep the prompt in front)" if got.shape == (batch, new) else ""
        raise CheckFailed(f"generate_tokens returned shape {list(got.shape)} for a prompt of shape {[batch, seq]} and "
                          f"max_new_tokens={new}: expected [batch, seq + max_new_tokens] = {[batch, seq + new]}{hint}")
    if got.dtype != np.int64:
        raise CheckFailed(f"generate_tokens returned {got.dtype} values: token ids are int64")
    return got


def judged_call(ctx, what, fn, *args, **options):
    """ctx.forward, with NumPy's refusals of the probabilities named (in an eager run: a lazy-first run that fails
    runs again eagerly anyway)."""
    try:
        return ctx.forward(what, fn, *args, **options)
    except CheckFailed as failed:
        named = None if ctx.lazy else numpy_choice_slip(ctx, str(failed), options)
        if named:
            raise CheckFailed(f"{what}: {named}\n{failed}") from None
        raise


def draw(ctx, model, ids, vocab, **options):
    """The learner's generate_next_token(model, ids, **options) as [batch, 1] int64 ids."""
    what = "generate_next_token(" + ", ".join(f"{k}={v!r}" for k, v in options.items()) + ")"
    out = judged_call(ctx, what, ctx.learner.generate_next_token, model, ctx.tensor(ids), **options)
    return next_tokens(ctx, out, (*ids.shape, vocab))


def ranks_of(tokens, rank):
    """Each sampled token's rank in its row (tokens: [rows, 1])."""
    return np.take_along_axis(rank, tokens, axis=1)[:, 0]


def run_tokens(ctx, model, prompt, new, **options):
    """The learner's generate_tokens(model, prompt, new, **options), checked for shape, dtype and prompt."""
    what = f"generate_tokens(max_new_tokens={new}, " + ", ".join(f"{k}={v!r}" for k, v in options.items()) + ")"
    if hasattr(model, "reset"):
        model.reset()
    out = judged_call(ctx, what, ctx.learner.generate_tokens, model, ctx.tensor(prompt), new, **options)
    got = sequences(ctx, out, *prompt.shape, new)
    if (got[:, : prompt.shape[1]] != prompt).any():
        raise CheckFailed(f"{what} changed the prompt: the first seq columns must be input_ids as given, "
                          "with the new tokens after them")
    if hasattr(model, "fed"):
        expect_cache_use(what, model, prompt, got)
    return got


def reference_tokens(ctx, model, prompt, new, **options):
    if hasattr(model, "reset"):
        model.reset()
    return to_numpy(ctx.reference.generate_tokens(model, ctx.tensor(prompt), new, **options))
