# expect: fail: `CPU()` pins a tensor to the CPU
"""The sampling noise drawn on the CPU: fine on a CPU, not next to a GPU's logits."""

from max.driver import CPU
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

    # float32 whatever the model's dtype: bfloat16 (a GPU's default) has too few bits for the noise's tail
    scores = last.cast(DType.float32) / temperature  # < 1 sharpens the distribution, > 1 flattens it
    if top_k is not None:
        best = F.top_k(scores, top_k, axis=-1)[0]  # [batch, top_k], in no promised order
        kth_best = best.min(axis=-1)  # [batch, 1]: the smallest of the k largest
        scores = F.where(scores < kth_best, float("-inf"), scores)  # drop all but the k best

    # Gumbel-max trick: argmax(scores + Gumbel noise) is a sample from softmax(scores)
    if seed is not None:
        random.set_seed(seed)
    uniform = random.uniform(scores.shape, range=(1e-10, 1.0), dtype=DType.float32, device=CPU())
    gumbel = -F.log(-F.log(uniform))
    return F.argmax(scores + gumbel, axis=-1).cast(DType.int64)


def generate_tokens(model, input_ids: Tensor, max_new_tokens: int, *, temperature: float = 1.0,
                    top_k: int | None = None, do_sample: bool = True, seed: int | None = None) -> Tensor:
    """The prompt with max_new_tokens tokens appended: [batch, seq] -> [batch, seq + max_new_tokens].

    `model` keeps a KV cache: it gets the prompt once, then each new token alone.
    """
    if seed is not None:
        random.set_seed(seed)  # seed once, so the whole sequence repeats for the same seed
    new_ids = input_ids  # the prompt goes in once; the model caches its keys and values
    for _ in range(max_new_tokens):
        next_token = generate_next_token(model, new_ids, temperature=temperature, top_k=top_k,
                                         do_sample=do_sample)
        input_ids = F.concat([input_ids, next_token], axis=1)
        new_ids = next_token  # from now on only the newest token: [batch, 1]
    return input_ids
