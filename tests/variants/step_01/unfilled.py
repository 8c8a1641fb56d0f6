# expect: fail: vocab_size should be an int, not None
from dataclasses import dataclass


@dataclass
class GPT2Config:
    vocab_size: int = None
    n_positions: int = None
    n_embd: int = None
    n_layer: int = None
    n_head: int = None
    n_inner: int = None
    layer_norm_epsilon: float = None
