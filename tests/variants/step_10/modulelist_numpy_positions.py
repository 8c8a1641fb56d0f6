# expect: pass
import numpy as np
from max.experimental.nn import Embedding, Module, ModuleList
from max.experimental.tensor import Tensor
from step_03 import LayerNorm
from step_09 import GPT2Block


class GPT2Model(Module):
    """Blocks in a ModuleList run by a Python loop; positions built in numpy, shaped [1, seq]."""

    def __init__(self, config):
        self.wte = Embedding(config.vocab_size, dim=config.n_embd)
        self.wpe = Embedding(config.n_positions, dim=config.n_embd)
        self.h = ModuleList([GPT2Block(config) for _ in range(config.n_layer)])
        self.ln_f = LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)

    def forward(self, input_ids):
        seq = int(input_ids.shape[1])
        positions = Tensor.from_dlpack(np.arange(seq, dtype=np.int64).reshape(1, seq))
        x = self.wte(input_ids) + self.wpe(positions)
        for block in self.h:
            x = block(x)
        return self.ln_f(x)
