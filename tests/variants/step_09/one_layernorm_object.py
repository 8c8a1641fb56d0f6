# expect: fail: one module serves as two
from max.experimental.nn import Module
from step_03 import LayerNorm
from step_04 import GPT2MLP
from step_07 import GPT2MultiHeadAttention


class GPT2Block(Module):
    """One LayerNorm object under both names: ln_1 and ln_2 would share their weights."""

    def __init__(self, config):
        norm = LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.ln_1 = norm
        self.attn = GPT2MultiHeadAttention(config)
        self.ln_2 = norm
        self.mlp = GPT2MLP(config.n_inner, config)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))
