# expect: fail: still a placeholder
def causal_mask(sequence_length, num_tokens, *, dtype, device):
    # TODO: 0 where key j <= num_tokens + i, -inf elsewhere
    raise NotImplementedError
