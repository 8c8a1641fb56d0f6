# expect: fail: post-norm
from max.experimental.nn import Module
from step_03 import LayerNorm
from step_04 import GPT2MLP
from step_07 import GPT2MultiHeadAttention


class GPT2Block(Module):
    """The original Transformer's post-norm order."""

    def __init__(self, config):
        self.ln_1 = LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.attn = GPT2MultiHeadAttention(config)
        self.ln_2 = LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.mlp = GPT2MLP(config.n_inner, config)

    def forward(self, x):
        h = self.ln_1(x + self.attn(x))
        return self.ln_2(h + self.mlp(h))
