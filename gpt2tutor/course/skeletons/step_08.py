"""Step 08: the pre-norm residual connection.

Read the lesson first: `gpt2tutor show 08`. Check your work with `gpt2tutor check 08`;
`gpt2tutor hint` gives the next hint when you are stuck.
"""

from collections.abc import Callable

from max.experimental.nn import Module
from max.experimental.tensor import Tensor
from step_03 import LayerNorm


def apply_residual_connection(residual: Tensor, sublayer_output: Tensor) -> Tensor:
    """Adds a sublayer's output back onto the residual stream it read from."""
    # TODO: combine the two [batch, seq, dim] tensors into the new residual stream: [batch, seq, dim].
    raise NotImplementedError("TODO: add the sublayer's output to the residual stream")


class ResidualBlock(Module):
    """Wraps a sublayer as GPT-2 does: normalize a copy, transform it, add it back."""

    def __init__(self, dim: int, eps: float = 1e-5):
        # TODO: self.ln: your LayerNorm from step 03 over `dim` features, with this eps
        #       (its parameters become ln.weight and ln.bias, [dim] each).
        raise NotImplementedError("TODO: create self.ln")

    def forward(self, x: Tensor, sublayer: Callable[[Tensor], Tensor]) -> Tensor:
        # x: [batch, seq, dim]; sublayer: any callable [batch, seq, dim] -> [batch, seq, dim]
        # TODO: pre-norm: the sublayer reads a normalized copy of x; the stream x itself is never normalized.
        # TODO: return the stream plus the sublayer's output: [batch, seq, dim].
        raise NotImplementedError("TODO: compute the pre-norm residual")
