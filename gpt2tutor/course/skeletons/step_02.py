"""Step 02: the causal mask that keeps each token from seeing the future.

Read the lesson with `gpt2tutor show 02`; check your work with `gpt2tutor check 02`.
"""

from max.dtype import DType
from max.experimental import functional as F
from max.experimental.tensor import Tensor


def causal_mask(sequence_length, num_tokens, *, dtype: DType, device) -> Tensor:
    """An additive mask of shape [sequence_length, sequence_length + num_tokens].

    Row i is the query at absolute position num_tokens + i; column j is the key at position j.
    Entry [i, j] is 0 when the query may see the key (j <= num_tokens + i) and -inf otherwise.
    sequence_length may be a Dim (from x.shape[1]); num_tokens is 0 in our model.
    """
    # TODO: the mask's width: the num_tokens earlier keys plus this sequence's own.
    # TODO: a [sequence_length, width] tensor of -inf, with the dtype and device you were given.
    # TODO: set to 0 every entry with j <= num_tokens + i (the query itself and everything before it),
    #       leaving -inf on the future. Return the mask.
    raise NotImplementedError("TODO: build the causal mask")
