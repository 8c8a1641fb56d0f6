# expect: fail: The model keeps a KV cache now
# Step 12's answer before the course had a KV cache: correct sampling, but the whole sequence every call.
"""Step 12: turning logits into text, one token at a time."""

from max.dtype import DType
from max.experimental import functional as F
from max.experimental import random
from max.experimental.tensor import Tensor


def generate_next_token(model, input_ids: Tensor, *, temperature: float = 1.0, top_k: int | None = None,
                        do_sample: bool = True, seed: int | None = None) -> Tensor:
    """The next token id for every sequence in the batch: [batch, seq] -> [batch, 1] int64."""
    logits = model(input_ids)  # [batch, seq, vocab]
    seq_len = int(logits.shape[1])
    last = logits[:, seq_len - 1, :]  # only the last position predicts the next token: [batch, vocab]
    if not do_sample:
        return F.argmax(last, axis=-1).cast(DType.int64)  # greedy: the single most likely token

    scores = last / temperature  # < 1 sharpens the distribution, > 1 flattens it
    if top_k is not None:
        kth_best = F.top_k(scores, top_k, axis=-1)[0][:, top_k - 1 :]  # [batch, 1]
        scores = F.where(scores < kth_best, float("-inf"), scores)  # drop all but the k best

    # Gumbel-max trick: argmax(scores + Gumbel noise) is a sample from softmax(scores)
    if seed is not None:
        random.set_seed(seed)
    uniform = random.uniform(scores.shape, range=(1e-10, 1.0), dtype=scores.dtype, device=scores.device)
    gumbel = -F.log(-F.log(uniform))
    return F.argmax(scores + gumbel, axis=-1).cast(DType.int64)


def generate_tokens(model, input_ids: Tensor, max_new_tokens: int, *, temperature: float = 1.0,
                    top_k: int | None = None, do_sample: bool = True, seed: int | None = None) -> Tensor:
    """The prompt with max_new_tokens tokens appended: [batch, seq] -> [batch, seq + max_new_tokens]."""
    if seed is not None:
        random.set_seed(seed)  # seed once, so the whole sequence repeats for the same seed
    for _ in range(max_new_tokens):
        next_token = generate_next_token(model, input_ids, temperature=temperature, top_k=top_k,
                                         do_sample=do_sample)
        input_ids = F.concat([input_ids, next_token], axis=1)
    return input_ids
