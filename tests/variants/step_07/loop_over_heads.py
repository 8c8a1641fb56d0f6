# expect: pass
import math

from max.experimental import functional as F
from max.experimental.nn import Linear, Module

from step_02 import causal_mask


class GPT2MultiHeadAttention(Module):
    """One head at a time in a Python loop; q, k, v by slicing; q scaled before the matmul."""

    def __init__(self, config):
        self.n_embd = config.n_embd
        self.n_head = config.n_head
        self.c_attn = Linear(config.n_embd, 3 * config.n_embd)
        self.c_proj = Linear(config.n_embd, config.n_embd)

    def forward(self, hidden_states):
        d, hd = self.n_embd, self.n_embd // self.n_head
        qkv = self.c_attn(hidden_states)
        q, k, v = qkv[:, :, :d], qkv[:, :, d:2 * d], qkv[:, :, 2 * d:]
        seq = hidden_states.shape[1]
        mask = causal_mask(seq, 0, dtype=hidden_states.dtype, device=hidden_states.device)
        outputs = []
        for h in range(self.n_head):
            cols = slice(h * hd, (h + 1) * hd)
            qh = q[:, :, cols] * (1.0 / math.sqrt(hd))  # [batch, seq, hd]
            kh, vh = k[:, :, cols], v[:, :, cols]
            weights = F.softmax(qh @ kh.transpose(1, 2) + mask, axis=-1)
            outputs.append(weights @ vh)
        return self.c_proj(F.concat(outputs, axis=-1))
