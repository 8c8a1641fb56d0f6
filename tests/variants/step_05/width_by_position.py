# expect: fail: MAX's Embedding takes the width by name, not by position: Embedding(config.vocab_size, dim=config.n_embd)
from max.experimental.nn import Embedding, Module


class GPT2Embeddings(Module):
    def __init__(self, config):
        self.wte = Embedding(config.vocab_size, config.n_embd)

    def forward(self, input_ids):
        return self.wte(input_ids)
