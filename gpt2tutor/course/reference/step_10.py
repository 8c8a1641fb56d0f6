"""Step 10: the whole transformer, from token ids to final hidden states."""

from max.dtype import DType
from max.experimental.nn import Embedding, Module, Sequential
from max.experimental.tensor import Tensor

from .step_01 import GPT2Config
from .step_03 import LayerNorm
from .step_09 import GPT2Block


class GPT2Model(Module):
    def __init__(self, config: GPT2Config):
        self.wte = Embedding(config.vocab_size, dim=config.n_embd)  # token embeddings
        self.wpe = Embedding(config.n_positions, dim=config.n_embd)  # position embeddings
        self.h = Sequential(*(GPT2Block(config) for _ in range(config.n_layer)))  # h.0 ... h.11
        self.ln_f = LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)  # the stream is normed once more

    def forward(self, input_ids: Tensor) -> Tensor:
        seq_len = input_ids.shape[-1]
        positions = Tensor.arange(seq_len, dtype=DType.int64, device=input_ids.device)  # [seq]
        x = self.wte(input_ids) + self.wpe(positions)  # [batch, seq, n_embd] + [seq, n_embd]
        x = self.h(x)  # through every block in turn
        return self.ln_f(x)  # [batch, seq, n_embd]
