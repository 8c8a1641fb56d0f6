# expect: pass
from max.experimental import functional as F
from max.experimental.nn import Module
from step_03 import LayerNorm


def apply_residual_connection(residual, sublayer_output):
    return F.add(sublayer_output, residual)


class ResidualBlock(Module):
    """Keyword-only eps, the sum written inline, the normalized copy kept in a variable."""

    def __init__(self, dim, *, eps=1e-5):
        self.ln = LayerNorm(dim, eps=eps)

    def forward(self, x, sublayer):
        normed = self.ln(x)
        update = sublayer(normed)
        return x + update
