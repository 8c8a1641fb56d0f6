"""GPT-2 in NumPy, with a KV cache, for the checks' oracles and known mistakes: the one copy, with switches
for the slips.

Weights are state dicts under the MAX model's names (Linear weights [out, in]); `prefix` picks a sub-module's
entries ("h.0.ln_1." say). Everything runs in the inputs' dtype: pass float64 for an oracle. A cache is one
(key, value) pair per block, each [batch, n_head, past, head_dim]; without one, nothing is cached.
"""

import math

import numpy as np

EPS = 1e-3  # the layer_norm_epsilon the checks of steps 09-11 configure: not LayerNorm's default, so ignoring it shows

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
MASKS["flipped"] = MASKS["future"]  # with nothing cached: -inf below the diagonal instead of above
# wrong divisors of the scores, by name, from (head_dim, n_embd, n_head, cache length)
DIVISORS = {
    "none": lambda hd, e, h, p: 1.0,
    "full": lambda hd, e, h, p: float(hd),
    "n_embd": lambda hd, e, h, p: math.sqrt(e),
    "n_head": lambda hd, e, h, p: math.sqrt(h),
    "cache_length": lambda hd, e, h, p: math.sqrt(p),
}


def softmax(x, axis=-1):
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def gelu_tanh(x):
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


def gelu_erf(x):
    return 0.5 * x * (1.0 + np.vectorize(math.erf)(x / math.sqrt(2.0)))


def linear(x, w, prefix):
    return x @ w[f"{prefix}weight"].T + w[f"{prefix}bias"]


def layer_norm(x, w, eps, *, prefix="", axis=-1, ddof=0, divide=lambda var, eps: np.sqrt(var + eps), scale=True,
               shift=True, centre=True):
    """LayerNorm in float64, with switches for the usual mistakes (centre=False: RMSNorm's mean square)."""
    x = x.astype(np.float64)
    if centre:
        y = (x - x.mean(axis=axis, keepdims=True)) / divide(x.var(axis=axis, ddof=ddof, keepdims=True), eps)
    else:
        y = x / divide((x * x).mean(axis=axis, keepdims=True), eps)
    return y * (w[f"{prefix}weight"] if scale else 1.0) + (w[f"{prefix}bias"] if shift else 0.0)


def mlp(w, x, act=gelu_tanh, *, prefix="", fc="c_fc", proj="c_proj"):
    return linear(act(linear(x, w, f"{prefix}{fc}.")), w, f"{prefix}{proj}.")


def heads(t, n_head):
    """[b, s, e] -> [b, n_head, s, head_dim]."""
    b, s, e = t.shape
    return t.reshape(b, s, n_head, e // n_head).transpose(0, 2, 1, 3)


def merged(t):
    """[b, n_head, s, head_dim] -> [b, s, e]."""
    b, h, s, hd = t.shape
    return t.transpose(0, 2, 1, 3).reshape(b, s, h * hd)


def qkv(x, w, prefix, n_head):
    """The new tokens' q, k and v (c_attn's three parts), split into heads."""
    return [heads(t, n_head) for t in np.split(linear(x, w, f"{prefix}c_attn."), 3, axis=-1)]


def cached_attention(w, x, n_head, past=None, *, prefix="", scale=None, mask="causal", softmax_axis=-1,
                     order=(0, 1, 2), split="transpose", merge="transpose", proj=True, cache="past_first"):
    """GPT-2's causal self-attention of x [b, s, e] after `past` (a (key, value) pair, None: nothing cached).
    Returns (out [b, s, e], key, value), the key and value as the cache should hold them. Each keyword swaps the
    right way for a known wrong one: `scale` a factor or a name in DIVISORS, `order` c_attn's parts as
    (q, k, v), `cache="new_first"` the new keys in front."""
    b, s, e = x.shape
    hd = e // n_head
    chunks = np.split(linear(x, w, f"{prefix}c_attn."), 3, axis=-1)
    split_heads = (lambda t: t.reshape(b, n_head, s, hd)) if split == "reshape" else (lambda t: heads(t, n_head))
    q, k, v = (split_heads(chunks[i]) for i in order)
    if past is None:
        past = (np.zeros((b, n_head, 0, hd), k.dtype),) * 2
    p = past[0].shape[2]
    joined = (lambda old, new: np.concatenate([new, old], axis=2)) if cache == "new_first" else \
        (lambda old, new: np.concatenate([old, new], axis=2))
    key, value = joined(past[0], k), joined(past[1], v)
    cols, rows = np.arange(p + s)[None, :], np.arange(s)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = 1 / math.sqrt(hd) if scale is None else \
            1 / np.float64(DIVISORS[scale](hd, e, n_head, p)) if isinstance(scale, str) else scale
        scores = np.where(MASKS[mask](cols, rows, p, s), q @ key.transpose(0, 1, 3, 2) * factor, -np.inf)
        out = softmax(scores, softmax_axis) @ value
    out = out.reshape(b, s, e) if merge == "reshape" else merged(out)
    return (linear(out, w, f"{prefix}c_proj.") if proj else out), key, value


def attention(w, x, n_head, **switches):
    """cached_attention with nothing cached: the output alone."""
    return cached_attention(w, x, n_head, **switches)[0]


def cached_block(x, w, prefix, cfg, past=None, **switches):
    """One pre-norm GPT2Block after `past`: (x + attn(ln_1(x)), then + mlp(ln_2(.)); its key; its value)."""
    eps = cfg.layer_norm_epsilon
    a, key, value = cached_attention(w, layer_norm(x, w, eps, prefix=f"{prefix}ln_1."), cfg.n_head, past,
                                     prefix=f"{prefix}attn.", **switches)
    x = x + a
    return x + mlp(w, layer_norm(x, w, eps, prefix=f"{prefix}ln_2."), prefix=f"{prefix}mlp."), key, value


def block(x, w, prefix, cfg):
    """One pre-norm GPT2Block, nothing cached."""
    return cached_block(x, w, prefix, cfg)[0]


def transformer(w, input_ids, cfg, past=None, *, prefix="", blocks=None, first_position=0, positions=True,
                final_norm=True, swap_cache=False, **switches):
    """GPT2Model.forward in float64 after the cache `past`: (hidden states, the new cache). The keywords
    reproduce the usual mistakes (positions="multiplied": the position embeddings multiplied in, not added;
    swap_cache: each block caches (value, key)); `switches` go to every block's attention."""
    w = {name: value.astype(np.float64, copy=False) for name, value in w.items()}
    seq = input_ids.shape[1]
    x = w[f"{prefix}wte.weight"][input_ids]
    if positions:
        wpe = np.take(w[f"{prefix}wpe.weight"], np.arange(first_position, first_position + seq), axis=0, mode="clip")
        x = x * wpe if positions == "multiplied" else x + wpe
    cache = []
    for i in range(cfg.n_layer) if blocks is None else blocks:
        x, key, value = cached_block(x, w, f"{prefix}h.{i}.", cfg, past[i] if past else None, **switches)
        cache.append((value, key) if swap_cache else (key, value))
    x = layer_norm(x, w, cfg.layer_norm_epsilon, prefix=f"{prefix}ln_f.") if final_norm else x
    return x, cache


def hidden_states(w, input_ids, cfg, **switches):
    """GPT2Model.forward in float64, nothing cached (transformer's keywords reproduce the usual mistakes)."""
    return transformer(w, input_ids, cfg, **switches)[0]


def lm_logits(w, input_ids, cfg):
    """GPT2LMHeadModel.forward in float64, from its state dict (transformer.*, lm_head.weight)."""
    return hidden_states(w, input_ids, cfg, prefix="transformer.") @ w["lm_head.weight"].astype(np.float64).T


def cached_run(w, cfg, chunks, *, positions="continue", **switches):
    """GPT2LMHeadModel fed the id chunks [b, s_i] in turn from an empty cache, from its state dict: (the logits
    of every fed position, the last cache). positions="restart": each call's tokens at 0..s-1; "from_one": at
    past+1..past+s; "new_count": from s; "n_head": from n_head (the cache's axis 1). `switches`: transformer's."""
    head = w["lm_head.weight"].astype(np.float64)
    cache, outs, seen = None, [], 0
    for ids in chunks:
        s = ids.shape[1]
        start = {"continue": seen, "restart": 0, "from_one": seen + 1, "new_count": s, "n_head": cfg.n_head}[positions]
        x, cache = transformer(w, ids, cfg, cache, prefix="transformer.", first_position=start, **switches)
        outs.append(x @ head.T)
        seen += s
    return np.concatenate(outs, axis=1), cache
