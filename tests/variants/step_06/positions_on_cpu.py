# expect: fail: `CPU()` pins a tensor to the CPU
"""Positions made on the CPU (as Modular's guide once did): fine on a CPU, not on a GPU."""

from max.driver import CPU
from max.dtype import DType
from max.experimental.nn import Embedding, Module
from max.experimental.tensor import Tensor
from step_01 import GPT2Config


class GPT2PositionEmbeddings(Module):
    def __init__(self, config: GPT2Config):
        self.wpe = Embedding(config.n_positions, dim=config.n_embd)  # [n_positions, n_embd]

    def forward(self, input_ids: Tensor) -> Tensor:
        # input_ids: [batch, seq]; only its length matters here
        seq_len = input_ids.shape[-1]
        positions = Tensor.arange(seq_len, dtype=DType.int64, device=CPU())  # [seq]: 0, 1, ..., seq-1
        return self.wpe(positions)  # [seq, n_embd], broadcast over the batch when added
