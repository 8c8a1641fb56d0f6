"""Step 11: the language-model head, hidden states to a score for every token.

Read the lesson first: `gpt2tutor show 11`. Check your work with `gpt2tutor check 11`;
`gpt2tutor hint` gives the next hint when you are stuck.
"""

from max.experimental.nn import Linear, Module
from max.experimental.tensor import Tensor
from step_01 import GPT2Config
from step_10 import GPT2Model


class GPT2LMHeadModel(Module):
    def __init__(self, config: GPT2Config):
        # TODO: self.transformer: the whole GPT2Model (its parameters become transformer.wte.weight, ...).
        # TODO: self.lm_head: a Linear from n_embd to vocab_size with no bias (lm_head.weight: [vocab_size, n_embd]).
        #       GPT-2 ties it to transformer.wte: your step-12 conversion copies wte's values into it, not this step.
        raise NotImplementedError("TODO: create transformer and lm_head")

    def forward(self, input_ids: Tensor) -> Tensor:
        # input_ids: [batch, seq] int64
        # TODO: hidden states from the transformer: [batch, seq, n_embd].
        # TODO: return the raw logits from lm_head (no softmax): [batch, seq, vocab_size].
        raise NotImplementedError("TODO: token ids to logits")
