# expect: fail: the mask is on the wrong side of the diagonal
import numpy as np
from max.experimental.tensor import Tensor


def causal_mask(sequence_length, num_tokens, *, dtype, device):
    s, n = int(sequence_length), num_tokens
    mask = np.tril(np.full((s, s + n), -np.inf), k=n - 1)
    return Tensor.from_dlpack(mask.astype(dtype.to_numpy())).to(device)
