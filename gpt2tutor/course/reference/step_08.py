"""Step 08: the pre-norm residual connection."""

from collections.abc import Callable

from max.experimental.nn import Module
from max.experimental.tensor import Tensor

from .step_03 import LayerNorm


def apply_residual_connection(residual: Tensor, sublayer_output: Tensor) -> Tensor:
    """Adds a sublayer's output back onto the residual stream it read from."""
    return residual + sublayer_output


class ResidualBlock(Module):
    """Wraps a sublayer as GPT-2 does: normalize a copy, transform it, add it back."""

    def __init__(self, dim: int, eps: float = 1e-5):
        self.ln = LayerNorm(dim, eps=eps)

    def forward(self, x: Tensor, sublayer: Callable[[Tensor], Tensor]) -> Tensor:
        # x: [batch, seq, dim]; the stream itself is never normalized, only what the sublayer reads
        return apply_residual_connection(x, sublayer(self.ln(x)))
