# expect: fail: add the type, `vocab_size: int = 50257`, `n_positions: int = 1024`
from dataclasses import dataclass


@dataclass
class GPT2Config:
    vocab_size = 50257
    n_positions = 1024
    n_embd = 768
    n_layer = 12
    n_head = 12
    n_inner = 3072
    layer_norm_epsilon = 1e-5
