"""Step 10: the whole transformer, from token ids to final hidden states.

Read the lesson first: `gpt2tutor show 10`. Check your work with `gpt2tutor check 10`;
`gpt2tutor hint` gives the next hint when you are stuck.
"""

from max.dtype import DType
from max.experimental.nn import Embedding, Module, ModuleList, Sequential
from max.experimental.tensor import Tensor
from step_01 import GPT2Config
from step_03 import LayerNorm
from step_09 import GPT2Block


class GPT2Model(Module):
    def __init__(self, config: GPT2Config):
        # TODO: self.wte: an Embedding table [vocab_size, n_embd] created here directly (name: wte.weight).
        # TODO: self.wpe: an Embedding table [n_positions, n_embd] created here directly (name: wpe.weight).
        # TODO: self.h: config.n_layer separate GPT2Blocks in a Sequential or ModuleList (names h.0, h.1, ...).
        # TODO: self.ln_f: the final LayerNorm over n_embd (eps from the config).
        raise NotImplementedError("TODO: create wte, wpe, h and ln_f")

    def forward(self, input_ids: Tensor) -> Tensor:
        # input_ids: [batch, seq] int64
        # TODO: token embeddings [batch, seq, n_embd] plus the embeddings of positions 0..seq-1 [seq, n_embd].
        # TODO: run the stream through every block in order: [batch, seq, n_embd].
        # TODO: return the final LayerNorm of the stream: [batch, seq, n_embd].
        raise NotImplementedError("TODO: embeddings, blocks, final norm")
