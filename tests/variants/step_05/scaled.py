# expect: fail: scaled by sqrt(n_embd)
from max.experimental.nn import Embedding, Module
from step_01 import GPT2Config


class GPT2Embeddings(Module):
    def __init__(self, config: GPT2Config):
        self.wte = Embedding(config.vocab_size, dim=config.n_embd)
        self.scale = config.n_embd**0.5

    def forward(self, input_ids):
        return self.wte(input_ids) * self.scale
