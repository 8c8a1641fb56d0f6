# expect: fail: no activation between c_fc and c_proj
from max.experimental.nn import Linear, Module


class GPT2MLP(Module):
    def __init__(self, intermediate_size, config):
        self.c_fc = Linear(config.n_embd, intermediate_size)
        self.c_proj = Linear(intermediate_size, config.n_embd)

    def forward(self, x):
        hidden = self.c_fc(x)
        return self.c_proj(hidden)
