# expect: fail: they contain NaN
"""NumPy: `<=` masks every logit at top_k=1, so the softmax is 0 / 0."""
import numpy as np
from max.dtype import DType
from max.experimental.tensor import Tensor


def generate_next_token(model, input_ids, *, temperature=1.0, top_k=None, do_sample=True, seed=None):
    last = model(input_ids).cast(DType.float32).to_numpy()[:, -1, :].astype(np.float64)
    if not do_sample:
        return Tensor.from_dlpack(np.argmax(last, axis=-1).astype(np.int64).reshape(-1, 1))
    scores = last / temperature
    if top_k is not None:
        kth = np.sort(scores, axis=-1)[:, -top_k][:, None]
        scores = np.where(scores <= kth, -np.inf, scores)
    probs = np.exp(scores - scores.max(axis=-1, keepdims=True))
    probs = probs / probs.sum(axis=-1, keepdims=True)
    rng = np.random.default_rng(seed)
    tokens = [rng.choice(len(p), p=p) for p in probs]
    return Tensor.from_dlpack(np.array(tokens, dtype=np.int64).reshape(-1, 1))


def generate_tokens(model, input_ids, max_new_tokens, *, temperature=1.0, top_k=None, do_sample=True, seed=None):
    ids = input_ids.to_numpy()
    new = ids
    for i in range(max_new_tokens):
        step_seed = None if seed is None else seed + i
        token = generate_next_token(model, Tensor.from_dlpack(np.ascontiguousarray(new)), temperature=temperature,
                                    top_k=top_k, do_sample=do_sample, seed=step_seed)
        new = token.to_numpy()
        ids = np.concatenate([ids, new], axis=1)
    return Tensor.from_dlpack(ids)
