# expect: pass
"""MAX ops throughout: inverse-CDF sampling with cumsum; returns [batch] ids, reshaped by generate_tokens."""
from max.dtype import DType
from max.experimental import functional as F
from max.experimental import random


def generate_next_token(model, input_ids, *, temperature=1.0, top_k=None, do_sample=True, seed=None):
    logits = model(input_ids)
    batch, seq, vocab = (int(d) for d in logits.shape)
    last = logits[:, seq - 1, :]
    if not do_sample:
        return F.argmax(F.softmax(last, axis=-1), axis=-1).reshape([batch]).cast(DType.int64)
    scores = last.cast(DType.float32) / temperature
    if top_k is not None:
        values, _ = F.top_k(scores, top_k, axis=-1)
        kth = F.min(values, axis=-1)
        scores = F.where(scores >= kth, scores, float("-inf"))
    cdf = F.cumsum(F.softmax(scores, axis=-1), axis=-1)
    if seed is not None:
        random.set_seed(seed)
    u = random.uniform([batch, 1], dtype=cdf.dtype, device=cdf.device)
    below = (cdf < u).cast(DType.int64)  # how many tokens the draw passes
    return F.clamp(F.sum(below, axis=-1), 0, vocab - 1).reshape([batch])


def generate_tokens(model, input_ids, max_new_tokens, *, temperature=1.0, top_k=None, do_sample=True, seed=None):
    if seed is not None:
        random.set_seed(seed)
    batch = int(input_ids.shape[0])
    new = input_ids
    for _ in range(max_new_tokens):
        token = generate_next_token(model, new, temperature=temperature, top_k=top_k, do_sample=do_sample)
        new = token.reshape([batch, 1])
        input_ids = F.concat([input_ids, new], axis=1)
    return input_ids
