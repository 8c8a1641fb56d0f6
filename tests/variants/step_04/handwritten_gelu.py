# expect: pass
import math

from max.experimental import functional as F
from max.experimental.nn import Linear, Module


class GPT2MLP(Module):
    """GELU written out by hand, with tanh."""

    def __init__(self, intermediate_size, config):
        self.c_fc = Linear(config.n_embd, intermediate_size)
        self.c_proj = Linear(intermediate_size, config.n_embd)

    def forward(self, x):
        h = self.c_fc(x)
        h = 0.5 * h * (1.0 + F.tanh(math.sqrt(2.0 / math.pi) * (h + 0.044715 * h * h * h)))
        return self.c_proj(h)
