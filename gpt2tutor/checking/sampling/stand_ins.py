"""Stand-in models for check 14: fixed logits, or a language model with a cache that records what it is fed,
and logits whose ranks are known, so that a sample's frequencies can be read by rank."""

import numpy as np

from ...registry import by_role
from ..failure import CheckFailed

LOGITS = np.array([2.0, 1.0, 0.5, 0.0, -1.0, -2.0])  # by rank, most likely first


def to_numpy(value):
    return value.to_numpy() if hasattr(value, "to_numpy") else np.asarray(value)


class FixedLogits:
    """A stand-in model: the same logits [batch, seq, vocab] whatever the ids (in `dtype`, float32 by default)."""

    def __init__(self, ctx, logits, dtype=None):
        self.logits = np.ascontiguousarray(logits, dtype=np.float32)
        self.output = ctx.tensor(self.logits)
        if dtype is not None:
            self.output = self.output.cast(dtype)

    def __call__(self, input_ids):
        return self.output


class PrefixSumModel:
    """A stand-in language model with a cache: position t's logits are a table row picked by the sum of every
    id fed so far up to t (earlier calls included), so every new token changes what comes next. It records
    what each call was given; reset() empties the cache."""

    def __init__(self, ctx, vocab_size, favourite_boost):
        self.ctx = ctx
        self.table = ctx.normal(vocab_size, vocab_size, scale=0.3)
        # each row's favourite is never its own index, so a token fed back always moves the sum on
        favourite = (np.arange(vocab_size) + ctx.rng.integers(1, vocab_size, vocab_size)) % vocab_size
        self.table[np.arange(vocab_size), favourite] += favourite_boost
        self.reset()

    def reset(self):
        self.sums = None  # [batch, 1]: the sum of the ids seen so far
        self.fed = []  # the ids of each call

    def __call__(self, input_ids):
        ids = to_numpy(input_ids)
        if ids.ndim != 2 or (self.sums is not None and ids.shape[0] != self.sums.shape[0]):
            raise CheckFailed(f"the model was called with ids of shape {list(ids.shape)}; after the prompt, "
                              "each call takes [batch, 1]: the token just picked for every sequence")
        self.fed.append(ids.copy())
        before = self.sums if self.sums is not None else np.zeros((ids.shape[0], 1), dtype=np.int64)
        running = before + np.cumsum(ids, axis=1)
        self.sums = running[:, -1:]
        return self.ctx.tensor(self.table[running % len(self.table)])


def expect_cache_use(what, model, prompt, got):
    """The calls a cached model must see: the prompt, then each picked token alone, in order."""
    fed, new = model.fed, got.shape[1] - prompt.shape[1]
    if not fed or fed[0].shape != prompt.shape or (fed[0] != prompt).any():
        raise CheckFailed(f"{what}: the model's first call should get the whole prompt {list(prompt.shape)}, "
                          f"it got {list(fed[0].shape) if fed else 'nothing'}")
    for i, ids in enumerate(fed[1:], start=1):
        if ids.shape[1] != 1:
            raise CheckFailed(f"{what}: call {i + 1} of the model got {ids.shape[1]} tokens. The model keeps a KV "
                              f"cache now (step {by_role('cached_model').id}): it has seen the prompt and every earlier token, so after the "
                              "first call pass only the token just picked, [batch, 1] (e.g. `input_ids = "
                              "next_token` for the next call, while you keep the whole sequence to return)")
        if i <= new and (ids[:, 0] != got[:, prompt.shape[1] + i - 1]).any():
            raise CheckFailed(f"{what}: call {i + 1} of the model got other ids than the token picked before "
                              "it: feed back the token just chosen, so the cache holds the sequence you return")
    if len(fed) != new:
        raise CheckFailed(f"{what}: the model was called {len(fed)} times for {new} new tokens: once for the "
                          "prompt (which predicts the first new token), then once per later token")


def ranked_logits(ctx, rows):
    """[rows, 2, vocab] logits holding LOGITS in a random order per row (the first position reversed),
    and each row's rank of every token id (0 = the most likely)."""
    vocab = len(LOGITS)
    order = np.argsort(ctx.rng.random((rows, vocab)), axis=1)  # order[r, j]: the token with rank j in row r
    logits = np.empty((rows, 2, vocab))
    np.put_along_axis(logits[:, 1], order, np.broadcast_to(LOGITS, (rows, vocab)), axis=1)
    np.put_along_axis(logits[:, 0], order, np.broadcast_to(LOGITS[::-1], (rows, vocab)), axis=1)
    return logits, np.argsort(order, axis=1)
