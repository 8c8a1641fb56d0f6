# expect: pass
import functools

from max.dtype import DType
from max.experimental import functional as F
from max.experimental.nn import Embedding, Module
from step_01 import GPT2Config
from step_03 import LayerNorm
from step_09 import GPT2Block


class GPT2Model(Module):
    """Blocks in a plain list, folded with reduce; positions from F.range, broadcast to the batch."""

    def __init__(self, config: GPT2Config):
        self.wte = Embedding(config.vocab_size, dim=config.n_embd)
        self.wpe = Embedding(config.n_positions, dim=config.n_embd)
        self.h = [GPT2Block(config) for _ in range(config.n_layer)]
        self.ln_f = LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)

    def forward(self, input_ids):
        batch, seq = input_ids.shape
        positions = F.range(0, seq, 1, dtype=DType.int64, device=input_ids.device)
        positions = F.broadcast_to(positions.reshape([1, seq]), [batch, seq])
        x = self.wpe(positions) + self.wte(input_ids)
        x = functools.reduce(lambda acc, block: block(acc), self.h, x)
        return self.ln_f(x)
