"""Step 12: GPT-2's real weights in your model, compiled into one graph.

Read the lesson first: `gpt2tutor show 12`. Check your work with `gpt2tutor check 12`;
`gpt2tutor hint` gives the next hint when you are stuck.
"""

import numpy as np
from max.driver import CPU
from max.dtype import DType
from max.experimental import functional as F
from max.experimental.tensor import default_device, default_dtype
from max.graph import DeviceRef, TensorType
from step_11 import GPT2LMHeadModel


def convert_hf_state_dict(state_dict):
    """HuggingFace GPT-2's state dict -> a dict in your GPT2LMHeadModel's names and layouts.

    state_dict maps names to numpy arrays, with or without the `transformer.` prefix
    (`transformer.h.0.attn.c_attn.weight` or `h.0.attn.c_attn.weight`).
    """
    # TODO: every key comes out as `transformer.<name>`, except `lm_head.weight`; a key that already
    #       has the prefix must not get it twice.
    # TODO: drop the buffers some checkpoints carry: names ending in `attn.bias` or `attn.masked_bias`
    #       (mind: `attn.c_attn.bias` is a real parameter).
    # TODO: HF's Conv1D weights (attn.c_attn, attn.c_proj, mlp.c_fc, mlp.c_proj) are stored [in, out];
    #       your Linear wants [out, in]: transpose those four, and nothing else.
    # TODO: `lm_head.weight` holds the token embedding table's values (a copy, or the same array: see the
    #       lesson). Return contiguous float32 arrays.
    raise NotImplementedError("TODO: convert HF's names and layouts")


def load_gpt2(config, state_dict, *, device=None):
    """Your GPT2LMHeadModel with HF's weights, compiled for int64 token ids [batch, seq].

    Returns the compiled model: a callable from ids [batch, seq] to logits [batch, seq, vocab_size].
    """
    # TODO: build your model for `config` lazily, float32, on `device` (CPU() when None): see the lesson's
    #       "Why F.lazy()".
    # TODO: convert the state dict with your convert_hf_state_dict.
    # TODO: compile it for token ids of any batch size and any length (the lesson: "Symbolic dimensions"),
    #       with the converted weights. Return the compiled model, not the module.
    raise NotImplementedError("TODO: build, load and compile")
