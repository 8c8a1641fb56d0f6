# expect: fail: the scores are not scaled
from max.experimental import functional as F
from max.experimental.nn import Linear, Module
from step_02 import causal_mask


class GPT2MultiHeadAttention(Module):
    """Forgets to scale the scores."""

    def __init__(self, config):
        self.n_head = config.n_head
        self.head_dim = config.n_embd // config.n_head
        self.c_attn = Linear(config.n_embd, 3 * config.n_embd)
        self.c_proj = Linear(config.n_embd, config.n_embd)

    def split_heads(self, t):
        batch, seq = t.shape[0], t.shape[1]
        return t.reshape([batch, seq, self.n_head, self.head_dim]).transpose(1, 2)

    def merge_heads(self, t):
        batch, seq = t.shape[0], t.shape[2]
        return t.transpose(1, 2).reshape([batch, seq, self.n_head * self.head_dim])

    def forward(self, hidden_states):
        batch, seq, n_embd = hidden_states.shape
        q, k, v = F.split(self.c_attn(hidden_states), [n_embd, n_embd, n_embd], axis=-1)
        q, k, v = self.split_heads(q), self.split_heads(k), self.split_heads(v)
        scores = q @ k.transpose(-2, -1)
        scores = scores + causal_mask(seq, 0, dtype=scores.dtype, device=scores.device)
        weights = F.softmax(scores, axis=-1)
        out = weights @ v
        out = self.merge_heads(out)
        return self.c_proj(out)
