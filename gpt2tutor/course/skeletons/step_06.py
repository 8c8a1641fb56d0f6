"""Step 06: position embeddings, one learned vector per position in the context.

Read the lesson with `gpt2tutor show 06`; check your work with `gpt2tutor check 06`.
"""

from max.dtype import DType
from max.experimental.nn import Embedding, Module
from max.experimental.tensor import Tensor
from step_01 import GPT2Config


class GPT2PositionEmbeddings(Module):
    def __init__(self, config: GPT2Config):
        # TODO: self.wpe, the position table: an Embedding of shape [n_positions, n_embd] ([1024, 768]).
        raise NotImplementedError("TODO: create the position table wpe")

    def forward(self, input_ids: Tensor) -> Tensor:
        # input_ids: [batch, seq]; only its length (the last axis) and its device matter here.
        # TODO: the positions 0, 1, ..., seq-1 as an int64 tensor [seq], on input_ids' device.
        # TODO: look them up in wpe -> [seq, n_embd] (it broadcasts over the batch later), and return it.
        raise NotImplementedError("TODO: look up the positions")
