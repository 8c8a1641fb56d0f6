# expect: fail: is on the CPU
"""Builds the mask on the CPU whatever device it is given: fine on a CPU, wrong for a GPU."""

from max.driver import CPU
from max.dtype import DType
from max.experimental import functional as F
from max.experimental.tensor import Tensor


def causal_mask(sequence_length, num_tokens, *, dtype: DType, device) -> Tensor:
    """An additive mask [sequence_length, sequence_length + num_tokens].

    Row i is the query at absolute position num_tokens + i; column j is key j.
    The query may see key j when j <= num_tokens + i: those entries are 0, the rest -inf.
    """
    width = sequence_length + num_tokens
    blocked = F.full([sequence_length, width], float("-inf"), dtype=dtype, device=CPU())
    # band_part keeps the band below the diagonal shifted right by num_tokens;
    # exclude=True keeps what lies outside it instead, so the visible band becomes 0.
    return F.band_part(blocked, num_lower=None, num_upper=num_tokens, exclude=True)
