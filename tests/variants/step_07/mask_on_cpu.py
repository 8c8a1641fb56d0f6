# expect: fail: `CPU()` pins a tensor to the CPU
"""The causal mask asked for on the CPU: fine on a CPU, not next to scores on a GPU."""

import math

from max.driver import CPU
from max.experimental import functional as F
from max.experimental.nn import Linear, Module
from max.experimental.tensor import Tensor
from step_01 import GPT2Config
from step_02 import causal_mask


class GPT2MultiHeadAttention(Module):
    def __init__(self, config: GPT2Config):
        self.n_head = config.n_head
        self.head_dim = config.n_embd // config.n_head  # 768 / 12 = 64
        self.c_attn = Linear(config.n_embd, 3 * config.n_embd)  # q, k and v in one matmul
        self.c_proj = Linear(config.n_embd, config.n_embd)  # mixes the heads back together

    def split_heads(self, x: Tensor) -> Tensor:
        """[batch, seq, n_embd] -> [batch, seq, n_head, head_dim] -> [batch, n_head, seq, head_dim]."""
        batch, seq = x.shape[0], x.shape[1]
        return x.reshape([batch, seq, self.n_head, self.head_dim]).transpose(1, 2)

    def merge_heads(self, x: Tensor) -> Tensor:
        """[batch, n_head, seq, head_dim] -> [batch, seq, n_head, head_dim] -> [batch, seq, n_embd]."""
        x = x.transpose(1, 2)
        batch, seq = x.shape[0], x.shape[1]
        return x.reshape([batch, seq, self.n_head * self.head_dim])

    def forward(self, hidden_states: Tensor) -> Tensor:
        n_embd = self.n_head * self.head_dim
        q, k, v = F.split(self.c_attn(hidden_states), [n_embd, n_embd, n_embd], axis=-1)
        q, k, v = self.split_heads(q), self.split_heads(k), self.split_heads(v)

        # every query against every key: [batch, n_head, seq, seq]
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.head_dim)
        seq = hidden_states.shape[1]
        scores = scores + causal_mask(seq, 0, dtype=scores.dtype, device=CPU())
        weights = F.softmax(scores, axis=-1)  # each row sums to 1 over the keys

        out = weights @ v  # [batch, n_head, seq, head_dim]
        return self.c_proj(self.merge_heads(out))  # [batch, seq, n_embd]
