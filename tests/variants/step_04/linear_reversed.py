# expect: fail: Linear takes the input size first
from max.experimental import functional as F
from max.experimental.nn import Linear, Module


class GPT2MLP(Module):
    """Linear(out, in): both layers built with their sizes the wrong way round."""

    def __init__(self, intermediate_size, config):
        self.c_fc = Linear(intermediate_size, config.n_embd)
        self.c_proj = Linear(config.n_embd, intermediate_size)

    def forward(self, x):
        return self.c_proj(F.gelu(self.c_fc(x), approximate="tanh"))
