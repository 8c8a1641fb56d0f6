# expect: fail: the diagonal is not shifted by num_tokens
import numpy as np
from max.experimental.tensor import Tensor


def causal_mask(sequence_length, num_tokens, *, dtype, device):
    s, n = int(sequence_length), num_tokens
    mask = np.triu(np.full((s, s + n), -np.inf), k=1)
    return Tensor.from_dlpack(mask.astype(dtype.to_numpy())).to(device)
