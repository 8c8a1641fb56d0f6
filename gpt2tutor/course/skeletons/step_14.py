"""Step 14: turning logits into text, one token at a time, through the KV cache.

Read the lesson first: `gpt2tutor show 14`. Check your work with `gpt2tutor check 14`;
`gpt2tutor hint` gives the next hint when you are stuck. Then: `gpt2tutor generate "your prompt"`.
"""

import numpy as np
from max.dtype import DType
from max.experimental import functional as F
from max.experimental import random
from max.experimental.tensor import Tensor


def generate_next_token(model, input_ids: Tensor, *, temperature: float = 1.0, top_k: int | None = None,
                        do_sample: bool = True, seed: int | None = None) -> Tensor:
    """The next token id for every sequence in the batch: [batch, seq] -> [batch, 1] int64.

    `model` is any callable from token ids [batch, seq] to logits [batch, seq, vocab] for those ids.
    """
    # TODO: run the model and keep only the last position's logits: [batch, vocab].
    # TODO: greedy (do_sample is False): the most likely token per row, [batch, 1] int64.
    # TODO: sampling: cast the logits to float32 (a model built without a float32 default gives bfloat16
    #       on a GPU), divide them by the temperature;
    #       with top_k, every logit below the k-th largest of its row becomes -inf (F.top_k's values
    #       come in no promised order).
    # TODO: draw one token per row from softmax(logits) (Gumbel-max in MAX, or NumPy on the host);
    #       the same seed must give the same token. Return [batch, 1] int64.
    raise NotImplementedError("TODO: pick the next token")


def generate_tokens(model, input_ids: Tensor, max_new_tokens: int, *, temperature: float = 1.0,
                    top_k: int | None = None, do_sample: bool = True, seed: int | None = None) -> Tensor:
    """The prompt with max_new_tokens tokens appended: [batch, seq] -> [batch, seq + max_new_tokens].

    `model` keeps a KV cache (step 13): give it the prompt once, then each new token alone.
    """
    # TODO: max_new_tokens times: pick the next token ([batch, 1]) and append it to the ids
    #       along the sequence axis. The first call gets the whole prompt; every later call gets
    #       only the token just picked, [batch, 1]: the model remembers the rest.
    # TODO: the whole sequence must repeat for the same seed: seed once, before the loop (seeding again
    #       before every token redraws the same numbers every time).
    raise NotImplementedError("TODO: the generation loop")
