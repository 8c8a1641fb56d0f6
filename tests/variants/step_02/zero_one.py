# expect: fail: a 0/1 mask
import numpy as np
from max.experimental.tensor import Tensor


def causal_mask(sequence_length, num_tokens, *, dtype, device):
    s, n = int(sequence_length), num_tokens
    mask = np.triu(np.ones((s, s + n)), k=n + 1)
    return Tensor.from_dlpack(mask.astype(dtype.to_numpy())).to(device)
