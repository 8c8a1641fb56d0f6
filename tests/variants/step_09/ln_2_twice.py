# expect: fail: attention reads ln_2 as well
from max.experimental.nn import Module
from step_03 import LayerNorm
from step_04 import GPT2MLP
from step_07 import GPT2MultiHeadAttention


class GPT2Block(Module):
    """One norm written as a helper, and the helper reads ln_2 for both sublayers."""

    def __init__(self, config):
        self.ln_1 = LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.attn = GPT2MultiHeadAttention(config)
        self.ln_2 = LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.mlp = GPT2MLP(config.n_inner, config)

    def norm(self, x):
        return self.ln_2(x)

    def forward(self, x):
        x = x + self.attn(self.norm(x))
        return x + self.mlp(self.norm(x))
