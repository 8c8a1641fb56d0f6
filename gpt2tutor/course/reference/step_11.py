"""Step 11: the language-model head, hidden states to a score for every token."""

from max.experimental.nn import Linear, Module
from max.experimental.tensor import Tensor

from .step_01 import GPT2Config
from .step_10 import GPT2Model


class GPT2LMHeadModel(Module):
    def __init__(self, config: GPT2Config):
        self.transformer = GPT2Model(config)
        # GPT-2 ties this matrix to transformer.wte; here it is a copy, which the loader fills with wte's values
        self.lm_head = Linear(config.n_embd, config.vocab_size, bias=False)

    def forward(self, input_ids: Tensor) -> Tensor:
        # input_ids: [batch, seq] -> logits: [batch, seq, vocab_size]
        return self.lm_head(self.transformer(input_ids))
