"""Step 09: one transformer block, attention then MLP, each in a pre-norm residual."""

from max.experimental.nn import Module
from max.experimental.tensor import Tensor

from .step_01 import GPT2Config
from .step_03 import LayerNorm
from .step_04 import GPT2MLP
from .step_07 import GPT2MultiHeadAttention
from .step_08 import apply_residual_connection


class GPT2Block(Module):
    def __init__(self, config: GPT2Config):
        self.ln_1 = LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.attn = GPT2MultiHeadAttention(config)
        self.ln_2 = LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.mlp = GPT2MLP(config.n_inner, config)

    def forward(self, hidden_states: Tensor) -> Tensor:
        # hidden_states: [batch, seq, n_embd] in and out
        x = apply_residual_connection(hidden_states, self.attn(self.ln_1(hidden_states)))  # tokens talk
        return apply_residual_connection(x, self.mlp(self.ln_2(x)))  # each token thinks alone
