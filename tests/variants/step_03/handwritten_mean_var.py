# expect: pass
from max.experimental import functional as F
from max.experimental.nn import Module
from max.experimental.tensor import Tensor


class LayerNorm(Module):
    """Mean and variance written out, divided by sqrt(var + eps)."""

    def __init__(self, dim, *, eps=1e-5):
        self.weight = Tensor.ones([dim])
        self.bias = Tensor.zeros([dim])
        self.eps = eps

    def forward(self, x):
        mean = F.mean(x, axis=-1)
        centred = x - mean
        var = F.mean(centred * centred, axis=-1)
        return centred / F.sqrt(var + self.eps) * self.weight + self.bias
