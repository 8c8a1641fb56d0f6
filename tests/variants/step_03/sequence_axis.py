# expect: fail: over the sequence axis
from max.experimental.nn import Module
from max.experimental.tensor import Tensor


class LayerNorm(Module):
    """Normalized over axis 1: the sequence, for [batch, seq, dim]."""

    def __init__(self, dim, *, eps=1e-5):
        self.weight = Tensor.ones([dim])
        self.bias = Tensor.zeros([dim])
        self.eps = eps

    def forward(self, x):
        mean = x.mean(axis=1)
        var = ((x - mean) ** 2).mean(axis=1)
        return (x - mean) / (var + self.eps) ** 0.5 * self.weight + self.bias
