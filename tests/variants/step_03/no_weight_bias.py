# expect: fail: weight and bias unused
from max.experimental import functional as F
from max.experimental.nn import Module
from max.experimental.tensor import Tensor


class LayerNorm(Module):
    def __init__(self, dim, *, eps=1e-5):
        self.weight = Tensor.ones([dim])
        self.bias = Tensor.zeros([dim])
        self.eps = eps

    def forward(self, x):
        mean = F.mean(x, axis=-1)
        var = F.mean((x - mean) * (x - mean), axis=-1)
        return (x - mean) / F.sqrt(var + self.eps)
