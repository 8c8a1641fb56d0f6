# expect: fail: the mask holds NaN
from max.experimental import functional as F


def causal_mask(sequence_length, num_tokens, *, dtype, device):
    """0/1 band times -inf: 0 * -inf is NaN on every visible entry."""
    ones = F.full([sequence_length, sequence_length + num_tokens], 1.0, dtype=dtype, device=device)
    visible = F.band_part(ones, num_lower=None, num_upper=num_tokens)
    return (1.0 - visible) * float("-inf")
