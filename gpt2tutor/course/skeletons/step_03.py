"""Step 03: layer normalization over the last axis.

Read the lesson with `gpt2tutor show 03`; check your work with `gpt2tutor check 03`.
"""

from max.experimental import functional as F
from max.experimental.nn import Module
from max.experimental.tensor import Tensor


class LayerNorm(Module):
    def __init__(self, dim: int, *, eps: float = 1e-5):
        # TODO: self.weight, the learned scale (gamma): shape [dim], starting as all ones.
        # TODO: self.bias, the learned shift (beta): shape [dim], starting as all zeros.
        # TODO: keep eps for forward.
        raise NotImplementedError("TODO: create weight, bias and eps")

    def forward(self, x: Tensor) -> Tensor:
        # x: [..., dim], e.g. [batch, seq, 768]
        # TODO: normalize every vector along the last axis to mean 0 and variance 1, with eps added
        #       to the variance inside the square root; then multiply by weight and add bias.
        #       The result has the same shape as x.
        raise NotImplementedError("TODO: normalize the last axis")
