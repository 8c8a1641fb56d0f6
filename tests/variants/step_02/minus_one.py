# expect: fail: No known mistake matches
import numpy as np
from max.experimental.tensor import Tensor


def causal_mask(sequence_length, num_tokens, *, dtype, device):
    s, n = int(sequence_length), num_tokens
    mask = np.triu(np.full((s, s + n), -1.0), k=n + 1)
    return Tensor.from_dlpack(mask.astype(dtype.to_numpy())).to(device)
