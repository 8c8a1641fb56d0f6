# expect: pass
import numpy as np
from max.experimental.tensor import Tensor


def causal_mask(sequence_length, num_tokens, *, dtype, device):
    """Built in numpy: -inf strictly above the diagonal shifted right by num_tokens."""
    seq = int(sequence_length)  # may be a Dim
    mask = np.triu(np.full((seq, seq + num_tokens), -np.inf), k=num_tokens + 1)
    return Tensor.from_dlpack(mask.astype(dtype.to_numpy())).to(device)
