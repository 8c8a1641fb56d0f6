# expect: pass
from dataclasses import dataclass


@dataclass(frozen=True)
class GPT2Config:
    vocab_size: int = 50_257
    n_positions: int = 1024
    n_embd: int = 768
    n_layer: int = 12
    n_head: int = 12
    n_inner: int = 4 * 768
    layer_norm_epsilon: float = 0.00001
    initializer_range: float = 0.02  # extra fields are fine
