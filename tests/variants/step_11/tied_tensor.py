# expect: fail: are the same tensor
from max.experimental.nn import Linear, Module
from step_10 import GPT2Model


class GPT2LMHeadModel(Module):
    def __init__(self, config):
        self.transformer = GPT2Model(config)
        self.lm_head = Linear(config.n_embd, config.vocab_size, bias=False)
        self.lm_head.weight = self.transformer.wte.weight

    def forward(self, input_ids):
        return self.lm_head(self.transformer(input_ids))
