# expect: fail: over the sequence axis
from max.experimental import functional as F
from max.experimental.nn import Module
from max.experimental.tensor import Tensor


class LayerNorm(Module):
    """Normalized over axis -2: the sequence, whatever the leading axes."""

    def __init__(self, dim, *, eps=1e-5):
        self.weight = Tensor.ones([dim])
        self.bias = Tensor.zeros([dim])
        self.eps = eps

    def forward(self, x):
        mean = F.mean(x, axis=-2)
        var = F.mean((x - mean) * (x - mean), axis=-2)
        return (x - mean) * F.rsqrt(var + self.eps) * self.weight + self.bias
