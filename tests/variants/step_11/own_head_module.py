# expect: pass
from max.experimental import functional as F
from max.experimental.nn import Module
from max.experimental.tensor import Tensor
from step_01 import GPT2Config
from step_10 import GPT2Model


class Head(Module):
    """A bias-free projection of our own, holding `weight` [vocab_size, n_embd]."""

    def __init__(self, n_embd, vocab_size):
        self.weight = Tensor.zeros([vocab_size, n_embd])

    def forward(self, x):
        return F.matmul(x, self.weight.transpose(0, 1))


class GPT2LMHeadModel(Module):
    def __init__(self, config: GPT2Config):
        self.transformer = GPT2Model(config)
        self.lm_head = Head(config.n_embd, config.vocab_size)

    def forward(self, input_ids):
        return self.lm_head(self.transformer(input_ids))
