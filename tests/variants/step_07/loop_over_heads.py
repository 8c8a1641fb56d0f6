# expect: pass
import math

from max.experimental import functional as F
from max.experimental.nn import Linear, Module
from step_02 import causal_mask


class GPT2MultiHeadAttention(Module):
    """One head at a time in Python loops: heads cut out by slicing and glued back with concat;
    q, k, v by slicing; q scaled before the matmul."""

    def __init__(self, config):
        self.n_embd = config.n_embd
        self.n_head = config.n_head
        self.c_attn = Linear(config.n_embd, 3 * config.n_embd)
        self.c_proj = Linear(config.n_embd, config.n_embd)

    def split_heads(self, x):
        batch, seq = x.shape[0], x.shape[1]
        hd = self.n_embd // self.n_head
        heads = [x[:, :, h * hd:(h + 1) * hd].reshape([batch, 1, seq, hd]) for h in range(self.n_head)]
        return F.concat(heads, axis=1)

    def merge_heads(self, x):
        return F.concat([x[:, h] for h in range(self.n_head)], axis=-1)

    def forward(self, hidden_states):
        d, hd = self.n_embd, self.n_embd // self.n_head
        qkv = self.c_attn(hidden_states)
        q, k, v = (self.split_heads(t) for t in (qkv[:, :, :d], qkv[:, :, d:2 * d], qkv[:, :, 2 * d:]))
        seq = hidden_states.shape[1]
        mask = causal_mask(seq, 0, dtype=hidden_states.dtype, device=hidden_states.device)
        outputs = []
        for h in range(self.n_head):
            qh = q[:, h : h + 1] * (1.0 / math.sqrt(hd))  # [batch, 1, seq, hd]
            kh, vh = k[:, h : h + 1], v[:, h : h + 1]
            weights = F.softmax(qh @ kh.transpose(2, 3) + mask, axis=-1)
            outputs.append(weights @ vh)
        return self.c_proj(self.merge_heads(F.concat(outputs, axis=1)))
