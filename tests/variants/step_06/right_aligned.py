# expect: fail: No known mistake matches
from max.dtype import DType
from max.experimental.nn import Embedding, Module
from max.experimental.tensor import Tensor
from step_01 import GPT2Config


class GPT2PositionEmbeddings(Module):
    def __init__(self, config: GPT2Config):
        self.wpe = Embedding(config.n_positions, dim=config.n_embd)

    def forward(self, input_ids):
        seq = int(input_ids.shape[1])
        last = int(self.wpe.weight.shape[0])
        return self.wpe(Tensor.arange(last - seq, last, dtype=DType.int64, device=input_ids.device))
