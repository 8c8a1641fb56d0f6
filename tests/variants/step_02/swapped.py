# expect: fail: 0 and -inf are swapped
from max.experimental import functional as F


def causal_mask(sequence_length, num_tokens, *, dtype, device):
    blocked = F.full([sequence_length, sequence_length + num_tokens], float("-inf"), dtype=dtype, device=device)
    return F.band_part(blocked, num_lower=None, num_upper=num_tokens)
