# expect: pass
from max.experimental import functional as F
from max.experimental.nn import Module
from max.experimental.tensor import Tensor


class GPT2Embeddings(Module):
    """Its own table module, looked up with F.gather."""

    def __init__(self, config):
        self.wte = Table(config.vocab_size, config.n_embd)

    def forward(self, input_ids):
        return self.wte(input_ids)


class Table(Module):
    def __init__(self, rows, dim):
        self.weight = Tensor.zeros([rows, dim])

    def forward(self, ids):
        return F.gather(self.weight, ids, axis=0)
