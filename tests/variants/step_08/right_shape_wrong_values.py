# expect: fail: No known mistake matches
from max.experimental.nn import Module
from step_03 import LayerNorm


def apply_residual_connection(residual, sublayer_output):
    return residual + sublayer_output


class ResidualBlock(Module):
    """The sum is right; the block returns a shape-preserving stand-in."""

    def __init__(self, dim, eps=1e-5):
        self.ln = LayerNorm(dim, eps=eps)

    def forward(self, x, sublayer):
        return self.ln(x) * 2.0
