"""Step 01: the numbers that fix GPT-2 (124M)'s shape."""

from dataclasses import dataclass


@dataclass
class GPT2Config:
    vocab_size: int = 50257  # tokens in the BPE vocabulary
    n_positions: int = 1024  # longest context the model can see
    n_embd: int = 768  # width of the residual stream
    n_layer: int = 12  # transformer blocks stacked
    n_head: int = 12  # attention heads per block (768 / 12 = 64 per head)
    n_inner: int = 3072  # hidden width of the MLP (4 * n_embd)
    layer_norm_epsilon: float = 1e-5  # added to the variance before the square root
