# expect: pass
from max.experimental.nn import Linear, Module
from step_10 import GPT2Model


class GPT2LMHeadModel(Module):
    """The head's matmul written out: hidden @ W.T with lm_head's own weight."""

    def __init__(self, config):
        self.transformer = GPT2Model(config)
        self.lm_head = Linear(config.n_embd, config.vocab_size, bias=False)

    def forward(self, input_ids):
        hidden = self.transformer(input_ids)
        return hidden @ self.lm_head.weight.T
