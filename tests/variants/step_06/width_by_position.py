# expect: fail: MAX's Embedding takes the width by name, not by position: Embedding(config.n_positions, dim=config.n_embd)
from max.dtype import DType
from max.experimental.nn import Embedding, Module
from max.experimental.tensor import Tensor


class GPT2PositionEmbeddings(Module):
    def __init__(self, config):
        self.wpe = Embedding(config.n_positions, config.n_embd)

    def forward(self, input_ids):
        return self.wpe(Tensor.arange(input_ids.shape[-1], dtype=DType.int64))
