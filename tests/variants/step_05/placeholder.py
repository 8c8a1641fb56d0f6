# expect: fail: still a placeholder
from max.experimental.nn import Embedding, Module
from step_01 import GPT2Config


class GPT2Embeddings(Module):
    def __init__(self, config: GPT2Config):
        self.wte = Embedding(config.vocab_size, dim=config.n_embd)

    def forward(self, input_ids):
        # TODO: look up each id in the table
        raise NotImplementedError
