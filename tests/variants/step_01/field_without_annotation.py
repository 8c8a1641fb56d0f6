# expect: fail: vocab_size has no type annotation, so @dataclass takes it for a plain class attribute
from dataclasses import dataclass


@dataclass
class GPT2Config:
    vocab_size = 50257
    n_positions: int = 1024
    n_embd: int = 768
    n_layer: int = 12
    n_head: int = 12
    n_inner: int = 3072
    layer_norm_epsilon: float = 1e-5
