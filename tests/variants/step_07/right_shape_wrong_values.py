# expect: fail: No known mistake matches
from max.experimental import functional as F
from max.experimental.nn import Linear, Module


class GPT2MultiHeadAttention(Module):
    """Right parameters, right output shape, no attention at all: each token only sees itself."""

    def __init__(self, config):
        self.n_head, self.head_dim = config.n_head, config.n_embd // config.n_head
        self.c_attn = Linear(config.n_embd, 3 * config.n_embd)
        self.c_proj = Linear(config.n_embd, config.n_embd)

    def split_heads(self, x):
        batch, seq = x.shape[0], x.shape[1]
        return x.reshape([batch, seq, self.n_head, self.head_dim]).transpose(1, 2)

    def merge_heads(self, x):
        batch, seq = x.shape[0], x.shape[2]
        return x.transpose(1, 2).reshape([batch, seq, self.n_head * self.head_dim])

    def forward(self, hidden_states):
        q, k, v = F.chunk(self.c_attn(hidden_states), 3, axis=-1)
        return self.c_proj(q + k + v)
