"""Step 07: causal multi-head self-attention.

Read the lesson first: `gpt2tutor show 07`. Check your work with `gpt2tutor check 07`;
`gpt2tutor hint` gives the next hint when you are stuck.
"""

import math

from max.experimental import functional as F
from max.experimental.nn import Linear, Module
from max.experimental.tensor import Tensor

from step_01 import GPT2Config
from step_02 import causal_mask


class GPT2MultiHeadAttention(Module):
    def __init__(self, config: GPT2Config):
        # TODO: keep the number of heads and each head's width (n_embd // n_head: 768 // 12 = 64)
        #       on self as plain Python ints; forward needs both.
        # TODO: self.c_attn: one Linear from n_embd to 3 * n_embd that produces q | k | v side by side.
        # TODO: self.c_proj: a Linear from n_embd to n_embd that mixes the heads' outputs.
        raise NotImplementedError("TODO: create c_attn and c_proj")

    def forward(self, hidden_states: Tensor) -> Tensor:
        # hidden_states: [batch, seq, n_embd]
        # TODO: c_attn, then split its output on the last axis into q, k, v: [batch, seq, n_embd] each.
        # TODO: split q, k and v into heads: [batch, seq, n_head, head_dim] -> [batch, n_head, seq, head_dim].
        # TODO: scores = q against every key, divided by sqrt(head_dim): [batch, n_head, seq, seq].
        # TODO: add causal_mask(seq, 0, ...) so no query sees a later key; softmax over the keys.
        # TODO: weights @ v: [batch, n_head, seq, head_dim]; merge the heads back to [batch, seq, n_embd].
        # TODO: return c_proj of the merged heads: [batch, seq, n_embd].
        raise NotImplementedError("TODO: compute causal multi-head attention")
