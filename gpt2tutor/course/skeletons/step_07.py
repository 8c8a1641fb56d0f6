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

    def split_heads(self, x: Tensor) -> Tensor:
        # x: [batch, seq, n_embd]. Head h owns the features h * head_dim ... (h + 1) * head_dim - 1.
        # TODO: reshape to [batch, seq, n_head, head_dim], then swap the seq and head axes:
        #       return [batch, n_head, seq, head_dim].
        raise NotImplementedError("TODO: split the last axis into heads")

    def merge_heads(self, x: Tensor) -> Tensor:
        # x: [batch, n_head, seq, head_dim], as split_heads returns it.
        # TODO: undo split_heads exactly, in reverse order: return [batch, seq, n_embd].
        raise NotImplementedError("TODO: merge the heads back")

    def forward(self, hidden_states: Tensor) -> Tensor:
        # hidden_states: [batch, seq, n_embd]
        # TODO: c_attn, then split its output on the last axis into q, k, v: [batch, seq, n_embd] each.
        # TODO: split q, k and v into heads with self.split_heads.
        # TODO: scores = q against every key, divided by sqrt(head_dim): [batch, n_head, seq, seq].
        # TODO: add causal_mask(seq, 0, ...) so no query sees a later key; softmax over the keys.
        # TODO: weights @ v: [batch, n_head, seq, head_dim]; self.merge_heads back to [batch, seq, n_embd].
        # TODO: return c_proj of the merged heads: [batch, seq, n_embd].
        raise NotImplementedError("TODO: compute causal multi-head attention")
