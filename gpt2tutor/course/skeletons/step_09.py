"""Step 09: one transformer block, attention then MLP, each in a pre-norm residual.

Read the lesson first: `gpt2tutor show 09`. Check your work with `gpt2tutor check 09`;
`gpt2tutor hint` gives the next hint when you are stuck.
"""

from max.experimental.nn import Module
from max.experimental.tensor import Tensor
from step_01 import GPT2Config
from step_03 import LayerNorm
from step_04 import GPT2MLP
from step_07 import GPT2MultiHeadAttention
from step_08 import apply_residual_connection


class GPT2Block(Module):
    def __init__(self, config: GPT2Config):
        # TODO: four sub-modules, named exactly as in the GPT-2 checkpoint:
        #   self.ln_1: LayerNorm over n_embd (eps from the config), read by attention
        #   self.attn: multi-head attention (step 07)
        #   self.ln_2: LayerNorm over n_embd (eps from the config), read by the MLP
        #   self.mlp:  the feed-forward network (step 04), n_embd -> n_inner -> n_embd
        raise NotImplementedError("TODO: create ln_1, attn, ln_2 and mlp")

    def forward(self, hidden_states: Tensor) -> Tensor:
        # hidden_states: [batch, seq, n_embd]
        # TODO: tokens talk: add attention of a normalized copy back onto the stream: [batch, seq, n_embd].
        # TODO: each token thinks: add the MLP of a normalized copy of *that* stream back: [batch, seq, n_embd].
        raise NotImplementedError("TODO: attention then MLP, each in a pre-norm residual")
