# expect: pass
from max.dtype import DType
from max.experimental import functional as F
from max.experimental.nn import Linear, Module


class GPT2MultiHeadAttention(Module):
    """A boolean mask applied with F.where, heads moved with permute, scale multiplied in."""

    def __init__(self, config):
        self.h = config.n_head
        self.c_attn = Linear(config.n_embd, 3 * config.n_embd)
        self.c_proj = Linear(config.n_embd, config.n_embd)

    def split_heads(self, t):
        b, s, d = t.shape
        return t.reshape([b, s, self.h, int(d) // self.h]).permute([0, 2, 1, 3])

    def merge_heads(self, t):
        b, h, s, hd = t.shape
        return t.permute([0, 2, 1, 3]).reshape([b, s, h * hd])

    def forward(self, hidden_states):
        b, s, d = hidden_states.shape
        hd = int(d) // self.h
        q, k, v = [self.split_heads(t) for t in F.split(self.c_attn(hidden_states), [d, d, d], axis=2)]
        scores = (q @ k.permute([0, 1, 3, 2])) * hd**-0.5
        pos = F.range(0, s, 1, dtype=DType.int64, device=hidden_states.device)
        visible = pos.reshape([s, 1]) >= pos.reshape([1, s])
        scores = F.where(visible, scores, -1e9)
        out = F.softmax(scores, axis=3) @ v
        return self.c_proj(self.merge_heads(out))
