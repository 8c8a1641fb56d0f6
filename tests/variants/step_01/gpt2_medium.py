# expect: fail: is GPT-2 medium's
from dataclasses import dataclass


@dataclass
class GPT2Config:
    vocab_size: int = 50257
    n_positions: int = 1024
    n_embd: int = 1024
    n_layer: int = 24
    n_head: int = 16
    n_inner: int = 4096
    layer_norm_epsilon: float = 1e-5
