"""Step 05: token embeddings, one learned vector per vocabulary entry.

Read the lesson with `gpt2tutor show 05`; check your work with `gpt2tutor check 05`.
"""

from max.experimental.nn import Embedding, Module
from max.experimental.tensor import Tensor
from step_01 import GPT2Config


class GPT2Embeddings(Module):
    def __init__(self, config: GPT2Config):
        # TODO: self.wte, the token table: an Embedding of shape [vocab_size, n_embd] ([50257, 768]).
        raise NotImplementedError("TODO: create the token table wte")

    def forward(self, input_ids: Tensor) -> Tensor:
        # input_ids: [batch, seq], int64 token ids
        # TODO: look up each id's row of wte -> [batch, seq, n_embd], and return it.
        raise NotImplementedError("TODO: look up the token ids")
