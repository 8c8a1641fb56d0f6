# expect: fail: eps added outside the square root
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
        std = F.sqrt(F.mean((x - mean) * (x - mean), axis=-1))
        return (x - mean) / (std + self.eps) * self.weight + self.bias
