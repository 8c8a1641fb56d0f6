# expect: fail: a 1/0 mask
from max.dtype import DType
from max.experimental.tensor import Tensor


def causal_mask(sequence_length, num_tokens, *, dtype, device):
    """Which keys each query may see, as booleans: not an additive mask."""
    query = Tensor.arange(sequence_length, dtype=DType.int64, device=device).reshape([sequence_length, 1])
    key = Tensor.arange(sequence_length + num_tokens, dtype=DType.int64, device=device)
    return key.reshape([1, sequence_length + num_tokens]) <= query + num_tokens
