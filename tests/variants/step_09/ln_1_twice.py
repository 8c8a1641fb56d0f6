# expect: fail: the MLP reads ln_1 again
from max.experimental.nn import Module
from step_03 import LayerNorm
from step_04 import GPT2MLP
from step_07 import GPT2MultiHeadAttention
from step_08 import apply_residual_connection


class GPT2Block(Module):
    """Both sublayers read the first LayerNorm: ln_2 is built, loaded and never used."""

    def __init__(self, config):
        self.ln_1 = LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.attn = GPT2MultiHeadAttention(config)
        self.ln_2 = LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.mlp = GPT2MLP(config.n_inner, config)

    def forward(self, hidden_states):
        after_attention = apply_residual_connection(hidden_states, self.attn(self.ln_1(hidden_states)))
        return apply_residual_connection(after_attention, self.mlp(self.ln_1(after_attention)))
