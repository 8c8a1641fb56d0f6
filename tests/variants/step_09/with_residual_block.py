# expect: pass
from max.experimental.nn import Module
from step_03 import LayerNorm
from step_04 import GPT2MLP
from step_07 import GPT2MultiHeadAttention
from step_08 import ResidualBlock


class GPT2Block(Module):
    """Step 08's ResidualBlock does each sublayer, wrapped around the block's own ln_1 and ln_2."""

    def __init__(self, config):
        self.ln_1 = LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.attn = GPT2MultiHeadAttention(config)
        self.ln_2 = LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.mlp = GPT2MLP(config.n_inner, config)

    def _residual(self, ln, x, sublayer):
        # built per call, so the weights stay named ln_1 / ln_2 as in GPT-2's checkpoint
        block = ResidualBlock(int(x.shape[-1]))
        block.ln = ln
        return block(x, sublayer)

    def forward(self, hidden_states):
        h = self._residual(self.ln_1, hidden_states, self.attn)
        return self._residual(self.ln_2, h, self.mlp)
