# expect: fail: explicitly convert to int
import numpy as np
from max.experimental.tensor import Tensor


def causal_mask(sequence_length, num_tokens, *, dtype, device):
    """Fine for ints, but a Dim (x.shape[1]) cannot size a numpy array."""
    mask = np.triu(np.full((sequence_length, sequence_length + num_tokens), -np.inf), k=num_tokens + 1)
    return Tensor.from_dlpack(mask.astype(dtype.to_numpy())).to(device)
