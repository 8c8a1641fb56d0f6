"""Step 05: token embeddings, one learned vector per vocabulary entry."""

from max.experimental.nn import Embedding, Module
from max.experimental.tensor import Tensor

from .step_01 import GPT2Config


class GPT2Embeddings(Module):
    def __init__(self, config: GPT2Config):
        self.wte = Embedding(config.vocab_size, dim=config.n_embd)  # [vocab_size, n_embd]

    def forward(self, input_ids: Tensor) -> Tensor:
        # input_ids: [batch, seq] int64 -> [batch, seq, n_embd], one table row per token
        return self.wte(input_ids)
