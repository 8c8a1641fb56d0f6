# expect: fail: should take the parameter(s) num_tokens
import numpy as np
from max.experimental.tensor import Tensor


def causal_mask(sequence_length, past, *, dtype, device):
    seq = int(sequence_length)
    mask = np.triu(np.full((seq, seq + past), -np.inf), k=past + 1)
    return Tensor.from_dlpack(mask.astype(dtype.to_numpy())).to(device)
