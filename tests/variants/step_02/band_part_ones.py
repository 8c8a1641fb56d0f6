# expect: pass
from max.experimental import functional as F
from max.experimental.tensor import Tensor


def causal_mask(sequence_length, num_tokens, *, dtype, device):
    """band_part keeps the visible band as ones; ones become 0, zeros become a huge negative number."""
    ones = Tensor.ones([sequence_length, sequence_length + num_tokens], dtype=dtype, device=device)
    visible = F.band_part(ones, num_lower=None, num_upper=num_tokens)
    return (1.0 - visible) * -1e9
