"""Step 03: layer normalization over the last axis."""

from max.experimental import functional as F
from max.experimental.nn import Module
from max.experimental.tensor import Tensor


class LayerNorm(Module):
    def __init__(self, dim: int, *, eps: float = 1e-5):
        self.weight = Tensor.ones([dim])  # gamma: learned scale, starts at 1
        self.bias = Tensor.zeros([dim])  # beta: learned shift, starts at 0
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        # x: [..., dim] -> [..., dim], each row to mean 0 and variance 1, then scaled and shifted
        return F.layer_norm(x, gamma=self.weight, beta=self.bias, epsilon=self.eps)
