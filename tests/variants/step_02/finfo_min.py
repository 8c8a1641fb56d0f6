# expect: pass
import numpy as np
from max.experimental.tensor import Tensor


def causal_mask(sequence_length, num_tokens, *, dtype, device):
    """The lowest finite number instead of -inf, as HuggingFace does."""
    np_dtype = dtype.to_numpy()
    i = np.arange(int(sequence_length))[:, None]
    j = np.arange(int(sequence_length) + num_tokens)[None, :]
    mask = np.where(j <= i + num_tokens, 0, np.finfo(np_dtype).min).astype(np_dtype)
    return Tensor.from_dlpack(mask).to(device)
