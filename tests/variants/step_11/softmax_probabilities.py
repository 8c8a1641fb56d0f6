# expect: fail: softmax was applied
from max.experimental import functional as F
from max.experimental.nn import Linear, Module
from step_10 import GPT2Model


class GPT2LMHeadModel(Module):
    def __init__(self, config):
        self.transformer = GPT2Model(config)
        self.lm_head = Linear(config.n_embd, config.vocab_size, bias=False)

    def forward(self, input_ids):
        return F.softmax(self.lm_head(self.transformer(input_ids)), axis=-1)
