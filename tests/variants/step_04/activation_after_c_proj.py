# expect: fail: the activation applied after c_proj
from max.experimental import functional as F
from max.experimental.nn import Linear, Module


class GPT2MLP(Module):
    def __init__(self, intermediate_size, config):
        self.c_fc = Linear(config.n_embd, intermediate_size)
        self.c_proj = Linear(intermediate_size, config.n_embd)

    def forward(self, x):
        return F.gelu(self.c_proj(self.c_fc(x)), approximate="tanh")
