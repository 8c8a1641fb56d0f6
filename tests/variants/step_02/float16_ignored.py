# expect: fail: dtype=DType.float16) returned a DType.float32 mask
from max.dtype import DType
from max.experimental import functional as F


def causal_mask(sequence_length, num_tokens, *, dtype, device):
    """Right for float32 and float64, but half precision is quietly widened."""
    if dtype == DType.float16:
        dtype = DType.float32
    blocked = F.full([sequence_length, sequence_length + num_tokens], float("-inf"), dtype=dtype, device=device)
    return F.band_part(blocked, num_lower=None, num_upper=num_tokens, exclude=True)
