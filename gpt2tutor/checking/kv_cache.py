"""Judging a learner's KV cache (check 13): the ways a returned cache goes wrong, each named.

`cache_slip` names what a returned cache holds when it is not the expected one (the cache it was given, the
new tokens only, the new before the old, keys and values swapped, the queries, keys before the head split or
transposed); `judge_cache_shapes` and `judge_cache_values` judge a model's caches block by block. The expected
caches come from numpy_gpt2.
"""

import numpy as np

from .failure import CheckFailed
from .numpy_gpt2 import merged

TOLERANCE = 1e-4


def _same(got, wrong):
    return got.shape == wrong.shape and bool(np.allclose(got, wrong, atol=10 * TOLERANCE, rtol=10 * TOLERANCE))


def cache_slip(got, past, new, other, label, *, queries=None, inputs=None):
    """What a returned cache `got` holds, when it is a known wrong one: None, or a sentence. `past`: the cache
    passed in; `new`: this call's keys (or values), [b, n_head, s, head_dim]; `other`: the right value (or key)
    cache; `queries`, `inputs`: this call's queries and its input before c_attn, split into heads, when known."""
    full = np.concatenate([past, new], axis=2)
    other_label = "values" if label == "key" else "keys"
    slips = [
        (past, f"the cached {label}s returned are the cache that came in, unchanged: return the extended cache, "
               f"with this call's {label}s appended (F.concat([past, new], axis=2))"),
        (new, f"the cached {label}s hold only the new tokens: append them to the cache that came in, "
              "F.concat([past, new], axis=2), so it keeps every token so far"),
        (np.concatenate([new, past], axis=2), f"the new {label}s come before the cached ones: the cache keeps the "
                                              "tokens in order, oldest first, F.concat([past, new], axis=2)"),
        (np.concatenate([past, new, new], axis=2), f"the new tokens' {label}s were cached twice (appended to a "
                                                   "cache that already held them): append them once"),
        (other, f"the cache holds the {other_label} where the {label}s belong: keys and values are swapped "
                "(c_attn gives q, k, v in that order; return (output, key, value))"),
        (full.transpose(0, 1, 3, 2), f"the cached {label}s are transposed, [batch, n_head, head_dim, seq]: cache "
                                     f"them as [batch, n_head, seq, head_dim] and transpose only for the scores"),
        (merged(full), f"the cached {label}s have not been split into heads ([batch, seq, n_embd]): the cache holds "
                       "them as past_key comes, [batch, n_head, seq, head_dim], split by attn.split_heads"),
    ]
    if queries is not None:
        slips.append((np.concatenate([past, queries], axis=2),
                      f"the cache holds the new queries where the {label}s belong: cache k (and v), the second "
                      "(and third) of c_attn's parts; q is used once and thrown away"))
    if inputs is not None:
        slips.append((np.concatenate([past, inputs], axis=2),
                      f"the cache holds the hidden states before c_attn where the {label}s belong: cache what "
                      "c_attn makes of them, k and v split into heads"))
    for wrong, message in slips:
        if past.shape[2] == 0 and wrong is not full and _same(full, wrong):
            continue  # with nothing cached some slips give the right cache: not those
        if _same(got, wrong):
            return message
    return None


def judge_cache_shapes(got, want, fed, what):
    """The cache's shapes name the mistakes precisely: not appended, appended twice, the wrong axis."""
    b, h, total, hd = want[0][0].shape
    for i, ((gk, gv), (wk, wv)) in enumerate(zip(got, want)):
        for label, g, w, o in (("key", gk, wk, wv), ("value", gv, wv, wk)):
            if g.shape == (b, h, total, hd):
                continue
            slip = cache_slip(g, w[:, :, :total - fed], w[:, :, total - fed:], o, label)
            if slip:
                raise CheckFailed(f"{what}: block {i}: {slip}")
            if g.ndim == 4 and g.size == b * h * total * hd:
                raise CheckFailed(f"{what}: block {i}'s cached {label} has shape {list(g.shape)}, expected "
                                  f"{[b, h, total, hd]}: the concatenation ran on the wrong axis. The cache grows "
                                  "along the sequence axis, axis 2 of [batch, n_head, seq, head_dim]")
            raise CheckFailed(f"{what}: block {i}'s cached {label} has shape {list(g.shape)}, expected "
                              f"[batch, n_head, tokens so far, head_dim] = {[b, h, total, hd]}")


def judge_cache_values(got, want, fed, what, *, named_only=False):
    """Block by block, once the shapes are right: each block's own keys and values (with named_only, only the
    mistakes with a name)."""
    total = want[0][0].shape[2]
    if len(got) > 1 and all(np.allclose(got[0][0], g[0]) for g in got[1:]):
        raise CheckFailed(f"{what}: every block returned the same cached keys: each block has its own keys and "
                          "values (block 3's are not block 2's). Keep one (key, value) pair per block")
    for i, ((gk, gv), (wk, wv)) in enumerate(zip(got, want)):
        if i > 0 and total > fed and np.allclose(gk[:, :, :-fed], want[0][0][:, :, :-fed], atol=1e-4) \
                and not np.allclose(wk, want[0][0]):
            raise CheckFailed(f"{what}: block {i} read block 0's cache: zip the blocks with past_key_values, so "
                              "each block reads and extends its own pair")
        if np.allclose(gk, wk, atol=TOLERANCE) and np.allclose(gv, wv, atol=TOLERANCE):
            continue
        for label, g, w, o in (("key", gk, wk, wv), ("value", gv, wv, wk)):
            slip = cache_slip(g, w[:, :, :total - fed], w[:, :, total - fed:], o, label)
            if slip:
                raise CheckFailed(f"{what}: block {i}: {slip}")
        if not named_only:
            raise CheckFailed(f"{what}: block {i}'s cached keys or values are not the ones its c_attn gives for "
                              "these tokens (the cached ones first, then the new ones)")
