# expect: fail: still a placeholder
"""Step 13: a key/value cache, so each new token costs one token's work.

Read the lesson first: `gpt2tutor show 13`. Check your work with `gpt2tutor check 13`;
`gpt2tutor hint` gives the next hint when you are stuck.
"""

import math

from max.driver import CPU
from max.dtype import DType
from max.experimental import functional as F
from max.experimental.tensor import Tensor, default_device, default_dtype
from max.graph import DeviceRef, TensorType
from step_02 import causal_mask
from step_11 import GPT2LMHeadModel
from step_12 import convert_hf_state_dict


def cached_attention(attn, hidden_states, past_key, past_value):
    """Your step-07 attention `attn` over new tokens that also see the cached ones.

    hidden_states: [batch, seq, n_embd], the new tokens only.
    past_key, past_value: [batch, n_head, past, head_dim], the keys and values of the tokens before them.
    Returns (output [batch, seq, n_embd], key and value [batch, n_head, past + seq, head_dim]).
    """
    # TODO: q, k, v from attn.c_attn, split into heads: [batch, n_head, seq, head_dim].
    # TODO: append the new k and v to the cached ones along the sequence axis.
    # TODO: scores of the new queries against every key: [batch, n_head, seq, past + seq].
    # TODO: the mask: every cached key is visible; among the new keys, query i sees 0..i.
    #       causal_mask(seq, past) says exactly that, but only while past is a Python int;
    #       in a compiled graph `past` is symbolic (read the lesson for the form that traces).
    # TODO: softmax, weights @ values, merge the heads, attn.c_proj. Return (output, key, value).
    raise NotImplementedError("TODO: attention with a cache")


class GPT2CachedLMHeadModel(GPT2LMHeadModel):
    """Your GPT2LMHeadModel, same parameters, with a forward that reads and extends a KV cache."""

    def forward(self, input_ids, past_key_values):
        """input_ids [batch, seq]: the new tokens; past_key_values: one (key, value) per block, in order.

        Returns (logits [batch, seq, vocab_size] for the new tokens, the extended past_key_values).
        """
        # TODO: the new tokens sit at positions past .. past + seq - 1, where past is the cache's length.
        # TODO: embeddings (self.transformer.wte, .wpe), then each block in self.transformer.h:
        #       x + cached_attention(block.attn, block.ln_1(x), its past) and x + block.mlp(block.ln_2(x)),
        #       keeping each block's new (key, value).
        # TODO: ln_f and lm_head, as in step 11. Return (logits, the list of new (key, value) pairs).
        raise NotImplementedError("TODO: the cached forward")


def load_cached_gpt2(config, state_dict, *, device=None):
    """GPT2CachedLMHeadModel with HF's weights, compiled for any batch, number of new tokens and cache length.

    The compiled model is called as model(input_ids, past_key_values) and returns (logits, past_key_values).
    """
    # TODO: as load_gpt2 in step 12, with GPT2CachedLMHeadModel, and a second input type: a list of
    #       (key type, value type) per block, each float32 ["batch", n_head, "past", head_dim].
    raise NotImplementedError("TODO: compile the cached model")
