"""GPT-2 with a KV cache in numpy (float64) for check 13, and the ways a learner's cache goes wrong, each named.

The keywords of `np_attention` and `np_cached_run` reproduce the usual slips in the numbers (the mask, the
scale, the softmax's axis, the order of the cache, the positions); `cache_slip` names what a returned cache
holds when it is not the expected one (the cache it was given, the new tokens only, the new before the old,
keys and values swapped, the queries, keys before the head split or transposed), and `judge_cache_shapes` and
`judge_cache_values` judge a model's caches block by block.
"""

import math

import numpy as np

from gpt2tutor.checking import CheckFailed

from ._numpy_gpt2 import gelu_tanh, layer_norm, linear, softmax

TOLERANCE = 1e-4

# which keys new query i (a row) may see, column by column, for p cached and s new tokens
MASKS = {
    "causal": lambda cols, rows, p, s: cols <= rows + p,
    "none": lambda cols, rows, p, s: cols >= 0,
    "from_zero": lambda cols, rows, p, s: cols <= rows,  # as if nothing were cached: query i sees columns 0..i
    "future": lambda cols, rows, p, s: (cols < p) | (cols >= rows + p),  # the new keys' mask on the other side
    "hides_cache": lambda cols, rows, p, s: (cols >= p) & (cols <= rows + p),  # the cached columns -inf
    "pieces_swapped": lambda cols, rows, p, s: (cols <= rows) | (cols >= s),  # [causal s x s, zeros s x p]
    "diagonal_hidden": lambda cols, rows, p, s: cols < rows + p,  # no query sees its own key
}
# what the scores are divided by, from (head_dim, n_embd, n_head, cache length)
SCALES = {
    "sqrt": lambda hd, e, h, p: math.sqrt(hd),
    "none": lambda hd, e, h, p: 1.0,
    "full": lambda hd, e, h, p: float(hd),
    "n_embd": lambda hd, e, h, p: math.sqrt(e),
    "n_head": lambda hd, e, h, p: math.sqrt(h),
    "cache_length": lambda hd, e, h, p: math.sqrt(p),
}


def heads(t, n_head):
    """[b, s, e] -> [b, n_head, s, head_dim]."""
    b, s, e = t.shape
    return t.reshape(b, s, n_head, e // n_head).transpose(0, 2, 1, 3)


def merged(t):
    """[b, n_head, s, head_dim] -> [b, s, e]."""
    b, h, s, hd = t.shape
    return t.transpose(0, 2, 1, 3).reshape(b, s, h * hd)


def qkv(x, w, name, n_head):
    """The new tokens' q, k and v, split into heads."""
    return [heads(t, n_head) for t in np.split(linear(x, w, f"{name}.c_attn."), 3, axis=-1)]


def np_attention(x, w, name, cfg, past_k, past_v, *, mask="causal", scale="sqrt", softmax_axis=-1,
                 order="past_first", kv="kv"):
    """x [b, s, e] (already normed); past [b, h, p, hd]. Returns (out [b, s, e], key, value), the key and value
    as the cache should hold them (order="new_first": the new ones in front; kv="vk": the new k and v swapped)."""
    b, s, e = x.shape
    hd = e // cfg.n_head
    p = past_k.shape[2]
    q, k, v = qkv(x, w, name, cfg.n_head)
    if kv == "vk":
        k, v = v, k
    joined = (lambda past, new: np.concatenate([new, past], axis=2)) if order == "new_first" else \
        (lambda past, new: np.concatenate([past, new], axis=2))
    key, value = joined(past_k, k), joined(past_v, v)
    with np.errstate(divide="ignore", invalid="ignore"):
        scores = q @ key.transpose(0, 1, 3, 2) / SCALES[scale](hd, e, cfg.n_head, p)
        cols, rows = np.arange(p + s)[None, :], np.arange(s)[:, None]
        scores = scores + np.where(MASKS[mask](cols, rows, p, s), 0.0, -np.inf)
        out = merged(softmax(scores, axis=softmax_axis) @ value)
    return linear(out, w, f"{name}.c_proj."), key, value


def np_cached_run(w, cfg, chunks, *, positions="continue", swap_cache=False, **attention):
    """Feeds the id chunks [b, s_i] in turn from an empty cache: (logits of every fed position, last cache).
    positions="restart": each call's tokens at 0..s-1; "from_one": at past+1..past+s; "new_count": from s;
    "n_head": from n_head (the cache's axis 1). swap_cache: each block appends (value, key). `attention`:
    np_attention's switches."""
    w = {k: v.astype(np.float64) for k, v in w.items()}
    b = chunks[0].shape[0]
    hd = cfg.n_embd // cfg.n_head
    cache = [(np.zeros((b, cfg.n_head, 0, hd)), np.zeros((b, cfg.n_head, 0, hd))) for _ in range(cfg.n_layer)]
    outs, seen = [], 0
    for ids in chunks:
        s = ids.shape[1]
        start = {"continue": seen, "restart": 0, "from_one": seen + 1, "new_count": s, "n_head": cfg.n_head}[positions]
        x = w["transformer.wte.weight"][ids] + np.take(w["transformer.wpe.weight"], np.arange(start, start + s),
                                                       axis=0, mode="clip")
        new_cache = []
        for i, (pk, pv) in enumerate(cache):
            p = f"transformer.h.{i}"
            eps = cfg.layer_norm_epsilon
            a, k, v = np_attention(layer_norm(x, w, eps, prefix=f"{p}.ln_1."), w, f"{p}.attn", cfg, pk, pv,
                                   **attention)
            x = x + a
            h = gelu_tanh(linear(layer_norm(x, w, eps, prefix=f"{p}.ln_2."), w, f"{p}.mlp.c_fc."))
            x = x + linear(h, w, f"{p}.mlp.c_proj.")
            new_cache.append((v, k) if swap_cache else (k, v))
        cache = new_cache
        outs.append(layer_norm(x, w, cfg.layer_norm_epsilon, prefix="transformer.ln_f.") @ w["lm_head.weight"].T)
        seen += s
    return np.concatenate(outs, axis=1), cache


# --- naming a wrong cache -----------------------------------------------------------------------

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
