# expect: fail: the table is transposed
from max.experimental.nn import Embedding, Module
from step_01 import GPT2Config


class GPT2Embeddings(Module):
    def __init__(self, config: GPT2Config):
        self.wte = Embedding(config.n_embd, dim=config.vocab_size)

    def forward(self, input_ids):
        return self.wte(input_ids)
