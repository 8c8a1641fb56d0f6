# expect: fail: was nested as wte or wpe
from max.experimental.nn import Module, Sequential
from step_03 import LayerNorm
from step_05 import GPT2Embeddings
from step_06 import GPT2PositionEmbeddings
from step_09 import GPT2Block


class GPT2Model(Module):
    """Reuses the step-05 and step-06 modules, so the tables become wte.wte.weight and wpe.wpe.weight."""

    def __init__(self, config):
        self.wte = GPT2Embeddings(config)
        self.wpe = GPT2PositionEmbeddings(config)
        self.h = Sequential(*(GPT2Block(config) for _ in range(config.n_layer)))
        self.ln_f = LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)

    def forward(self, input_ids):
        return self.ln_f(self.h(self.wte(input_ids) + self.wpe(input_ids)))
