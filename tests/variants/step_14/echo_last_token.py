# expect: fail: No known mistake matches
from max.dtype import DType
from max.experimental import functional as F
from max.experimental import random


def generate_next_token(model, input_ids, *, temperature=1.0, top_k=None, do_sample=True, seed=None):
    logits = model(input_ids)
    last = logits[:, int(logits.shape[1]) - 1, :]
    if not do_sample:
        return input_ids[:, int(input_ids.shape[1]) - 1 :]
    scores = last / temperature
    if top_k is not None:
        kth = F.top_k(scores, top_k, axis=-1)[0][:, top_k - 1 :]
        scores = F.where(scores < kth, float("-inf"), scores)
    if seed is not None:
        random.set_seed(seed)
    uniform = random.uniform(scores.shape, range=(1e-10, 1.0), dtype=scores.dtype, device=scores.device)
    return F.argmax(scores - F.log(-F.log(uniform)), axis=-1).cast(DType.int64)


def generate_tokens(model, input_ids, max_new_tokens, *, temperature=1.0, top_k=None, do_sample=True, seed=None):
    if seed is not None:
        random.set_seed(seed)
    new = input_ids  # the model caches what it has seen: the prompt once, then one token a call
    for _ in range(max_new_tokens):
        token = generate_next_token(model, new, temperature=temperature, top_k=top_k, do_sample=do_sample)
        input_ids = F.concat([input_ids, token], axis=1)
        new = token
    return input_ids
