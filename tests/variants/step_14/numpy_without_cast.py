# expect: fail: copied to NumPy as they are
"""The NumPy route without the float32 cast: fine for float32 logits, but NumPy has no bfloat16."""
import numpy as np
from max.experimental.tensor import Tensor

_rng = np.random.default_rng()


def generate_next_token(model, input_ids, *, temperature=1.0, top_k=None, do_sample=True, seed=None):
    global _rng
    last = model(input_ids).to_numpy()[:, -1, :].astype(np.float64)
    if not do_sample:
        probs = np.exp(last - last.max(axis=-1, keepdims=True))
        return Tensor.from_dlpack(np.argmax(probs, axis=-1).astype(np.int64).reshape(-1, 1))
    scores = last / temperature
    if top_k is not None:
        kth = np.sort(scores, axis=-1)[:, -top_k][:, None]
        scores = np.where(scores >= kth, scores, -np.inf)
    probs = np.exp(scores - scores.max(axis=-1, keepdims=True))
    cdf = np.cumsum(probs / probs.sum(axis=-1, keepdims=True), axis=-1)
    if seed is not None:
        _rng = np.random.default_rng(seed)
    u = _rng.random((len(cdf), 1))
    tokens = np.minimum((cdf < u).sum(axis=-1), cdf.shape[-1] - 1)
    return Tensor.from_dlpack(tokens.astype(np.int64).reshape(-1, 1))


def generate_tokens(model, input_ids, max_new_tokens, *, temperature=1.0, top_k=None, do_sample=True, seed=None):
    ids = input_ids.to_numpy()
    fresh = ids  # what the model has not seen yet
    for i in range(max_new_tokens):
        step_seed = seed if i == 0 else None
        token = generate_next_token(model, Tensor.from_dlpack(np.ascontiguousarray(fresh)), temperature=temperature,
                                    top_k=top_k, do_sample=do_sample, seed=step_seed)
        fresh = token.to_numpy()
        ids = np.concatenate([ids, fresh], axis=1)
    return Tensor.from_dlpack(ids)
