"""Step 04: the position-wise feed-forward network (MLP).

Read the lesson with `gpt2tutor show 04`; check your work with `gpt2tutor check 04`.
"""

from max.experimental import functional as F
from max.experimental.nn import Linear, Module
from max.experimental.tensor import Tensor
from step_01 import GPT2Config


class GPT2MLP(Module):
    def __init__(self, intermediate_size: int, config: GPT2Config):
        # TODO: self.c_fc, a Linear that widens each vector: n_embd -> intermediate_size (768 -> 3072).
        # TODO: self.c_proj, a Linear that narrows it back: intermediate_size -> n_embd (3072 -> 768).
        raise NotImplementedError("TODO: create c_fc and c_proj")

    def forward(self, hidden_states: Tensor) -> Tensor:
        # hidden_states: [batch, seq, n_embd]
        # TODO: c_fc                          -> [batch, seq, intermediate_size]
        # TODO: GELU, GPT-2's tanh version    -> [batch, seq, intermediate_size]
        # TODO: c_proj                        -> [batch, seq, n_embd], and return it
        raise NotImplementedError("TODO: widen, activate, narrow")
