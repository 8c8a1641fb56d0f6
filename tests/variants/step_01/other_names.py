# expect: fail: GPT2Config() has no n_inner, layer_norm_epsilon
from dataclasses import dataclass


@dataclass
class GPT2Config:
    vocab_size: int = 50257
    n_positions: int = 1024
    n_embd: int = 768
    n_layer: int = 12
    n_head: int = 12
    d_ff: int = 3072
    eps: float = 1e-5
