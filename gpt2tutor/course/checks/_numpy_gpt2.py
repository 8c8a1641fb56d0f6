"""GPT-2 in numpy, for the checks' oracles and known mistakes: one copy, with switches for the slips.

Weights are state dicts under the MAX model's names (Linear weights [out, in]); `prefix` picks a
sub-module's entries ("h.0.ln_1." say). Everything runs in the inputs' dtype: pass float64 for an oracle.
"""

import math

import numpy as np

EPS = 1e-3  # the layer_norm_epsilon the checks of steps 09-11 configure: not LayerNorm's default, so ignoring it shows


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


def attention(w, x, n_head, *, prefix="", scale=None, mask="causal", softmax_axis=-1, order=(0, 1, 2),
              split="transpose", merge="transpose", proj=True):
    """GPT-2's causal self-attention; each keyword swaps the right way for a known wrong one."""
    b, s, d = x.shape
    hd = d // n_head
    chunks = np.split(linear(x, w, f"{prefix}c_attn."), 3, axis=-1)
    q, k, v = (chunks[i] for i in order)

    def heads(t):  # [b, s, d] -> [b, h, s, hd]
        if split == "reshape":
            return t.reshape(b, n_head, s, hd)
        return t.reshape(b, s, n_head, hd).transpose(0, 2, 1, 3)

    q, k, v = heads(q), heads(k), heads(v)
    scores = q @ k.transpose(0, 1, 3, 2) * (1 / math.sqrt(hd) if scale is None else scale)
    i, j = np.arange(s)[:, None], np.arange(s)[None, :]
    hidden = {"causal": j > i, "none": np.zeros((s, s), bool), "flipped": j < i}[mask]
    out = softmax(np.where(hidden, -np.inf, scores), softmax_axis) @ v
    out = out.reshape(b, s, d) if merge == "reshape" else out.transpose(0, 2, 1, 3).reshape(b, s, d)
    return linear(out, w, f"{prefix}c_proj.") if proj else out


def block(x, w, prefix, cfg):
    """One pre-norm GPT2Block: x + attn(ln_1(x)), then + mlp(ln_2(.))."""
    eps = cfg.layer_norm_epsilon
    x = x + attention(w, layer_norm(x, w, eps, prefix=f"{prefix}ln_1."), cfg.n_head, prefix=f"{prefix}attn.")
    return x + mlp(w, layer_norm(x, w, eps, prefix=f"{prefix}ln_2."), prefix=f"{prefix}mlp.")


def hidden_states(w, input_ids, cfg, *, blocks=None, first_position=0, positions=True, final_norm=True):
    """GPT2Model.forward in float64; the keywords reproduce the usual mistakes."""
    w = {name: value.astype(np.float64) for name, value in w.items()}
    seq = input_ids.shape[1]
    x = w["wte.weight"][input_ids]
    if positions:  # "multiplied": the position embeddings multiplied in, not added
        wpe = np.take(w["wpe.weight"], np.arange(first_position, first_position + seq), axis=0, mode="clip")
        x = x * wpe if positions == "multiplied" else x + wpe
    for i in range(cfg.n_layer) if blocks is None else blocks:
        x = block(x, w, f"h.{i}.", cfg)
    return layer_norm(x, w, cfg.layer_norm_epsilon, prefix="ln_f.") if final_norm else x
