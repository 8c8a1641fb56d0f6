# expect: fail: position embeddings were not added
from max.dtype import DType
from max.experimental.nn import Embedding, Module, Sequential
from max.experimental.tensor import Tensor
from step_03 import LayerNorm
from step_09 import GPT2Block


class GPT2Model(Module):
    def __init__(self, config):
        self.wte = Embedding(config.vocab_size, dim=config.n_embd)
        self.wpe = Embedding(config.n_positions, dim=config.n_embd)
        self.h = Sequential(*(GPT2Block(config) for _ in range(config.n_layer)))
        self.ln_f = LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)

    def forward(self, input_ids):
        seq = input_ids.shape[-1]
        positions = Tensor.arange(seq, dtype=DType.int64, device=input_ids.device)
        x = self.h(self.wte(input_ids))
        return self.ln_f(x)
