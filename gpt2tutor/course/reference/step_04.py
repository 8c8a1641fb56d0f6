"""Step 04: the position-wise feed-forward network."""

from max.experimental import functional as F
from max.experimental.nn import Linear, Module
from max.experimental.tensor import Tensor

from .step_01 import GPT2Config


class GPT2MLP(Module):
    def __init__(self, intermediate_size: int, config: GPT2Config):
        self.c_fc = Linear(config.n_embd, intermediate_size)  # widen: 768 -> 3072
        self.c_proj = Linear(intermediate_size, config.n_embd)  # narrow back: 3072 -> 768

    def forward(self, hidden_states: Tensor) -> Tensor:
        h = self.c_fc(hidden_states)  # [batch, seq, n_embd] -> [batch, seq, n_inner]
        h = F.gelu(h, approximate="tanh")  # GPT-2 was trained with the tanh approximation
        return self.c_proj(h)  # [batch, seq, n_inner] -> [batch, seq, n_embd]
