# expect: pass
from max.dtype import DType
from max.experimental import functional as F
from max.experimental.tensor import Tensor


def causal_mask(sequence_length, num_tokens, *, dtype, device):
    """Query positions against key positions, then F.where."""
    width = sequence_length + num_tokens
    query = Tensor.arange(sequence_length, dtype=DType.int64, device=device).reshape([sequence_length, 1])
    query = query + num_tokens  # each query's absolute position
    key = Tensor.arange(width, dtype=DType.int64, device=device).reshape([1, width])
    zeros = Tensor.zeros([sequence_length, width], dtype=dtype, device=device)
    blocked = Tensor.full([sequence_length, width], float("-inf"), dtype=dtype, device=device)
    return F.where(key <= query, zeros, blocked)
