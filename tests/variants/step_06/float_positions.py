# expect: fail: the positions are floats
from max.experimental.nn import Embedding, Module
from max.experimental.tensor import Tensor


class GPT2PositionEmbeddings(Module):
    def __init__(self, config):
        self.wpe = Embedding(config.n_positions, dim=config.n_embd)

    def forward(self, input_ids):
        return self.wpe(Tensor.arange(input_ids.shape[-1], device=input_ids.device))
