# expect: fail: maps the wrong way
from max.experimental.nn import Linear, Module
from step_10 import GPT2Model


class GPT2LMHeadModel(Module):
    def __init__(self, config):
        self.transformer = GPT2Model(config)
        self.lm_head = Linear(config.vocab_size, config.n_embd, bias=False)

    def forward(self, input_ids):
        return self.transformer(input_ids) @ self.lm_head.weight
