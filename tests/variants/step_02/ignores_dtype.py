# expect: fail: build it in the dtype asked for
import numpy as np
from max.experimental.tensor import Tensor


def causal_mask(sequence_length, num_tokens, *, dtype, device):
    seq = int(sequence_length)
    mask = np.triu(np.full((seq, seq + num_tokens), -np.inf, np.float32), k=num_tokens + 1)
    return Tensor.from_dlpack(mask).to(device)
