"""Step 01: the configuration that fixes GPT-2 (124M)'s shape.

Read the lesson with `gpt2tutor show 01`; check your work with `gpt2tutor check 01`.
"""

from dataclasses import dataclass


@dataclass
class GPT2Config:
    """Every size in GPT-2, in one place. GPT2Config() is GPT-2 124M; keywords make smaller models."""

    # TODO: declare seven fields, each as `name: type = default`, with GPT-2 124M's value as the
    # default (the lesson's table has them). Names and order:
    #   vocab_size          int    how many different tokens there are
    #   n_positions         int    the longest sequence the model can read
    #   n_embd              int    the width of every token's vector
    #   n_layer             int    how many transformer blocks are stacked
    #   n_head              int    attention heads per block
    #   n_inner             int    the hidden width of each block's MLP
    #   layer_norm_epsilon  float  the small number LayerNorm adds to the variance
