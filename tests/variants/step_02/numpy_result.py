# expect: fail: not a MAX Tensor
import numpy as np


def causal_mask(sequence_length, num_tokens, *, dtype, device):
    seq = int(sequence_length)
    return np.triu(np.full((seq, seq + num_tokens), -np.inf, np.float32), k=num_tokens + 1)
