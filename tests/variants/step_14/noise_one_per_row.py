# expect: fail: one noise value per row
"""One uniform draw per row, [batch, 1], broadcast over the vocabulary."""
from max.dtype import DType
from max.experimental import functional as F
from max.experimental import random


def generate_next_token(model, input_ids, *, temperature=1.0, top_k=None, do_sample=True, seed=None):
    logits = model(input_ids)
    last = logits[:, -1, :]
    if not do_sample:
        return F.argmax(last, axis=-1).cast(DType.int64)
    scores = last.cast(DType.float32) / temperature
    if top_k is not None:
        kth = F.top_k(scores, top_k, axis=-1)[0].min(axis=-1)
        scores = F.where(scores < kth, float("-inf"), scores)
    if seed is not None:
        random.set_seed(seed)
    u = random.uniform([int(scores.shape[0]), 1], range=(1e-10, 1.0), dtype=DType.float32,
                       device=scores.device)
    gumbel = -F.log(-F.log(u))
    return F.argmax(scores + gumbel, axis=-1).cast(DType.int64)


def generate_tokens(model, input_ids, max_new_tokens, *, temperature=1.0, top_k=None, do_sample=True, seed=None):
    if seed is not None:
        random.set_seed(seed)
    new = input_ids
    for _ in range(max_new_tokens):
        token = generate_next_token(model, new, temperature=temperature, top_k=top_k, do_sample=do_sample)
        input_ids = F.concat([input_ids, token], axis=1)
        new = token
    return input_ids
