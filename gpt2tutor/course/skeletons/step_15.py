"""Step 15: many requests in one call: a ragged batch, padded, masked and positioned row by row.

Read the lesson first: `gpt2tutor show 15`. Check your work with `gpt2tutor check 15`;
`gpt2tutor hint` gives the next hint when you are stuck.
"""

import math

from max.driver import CPU
from max.dtype import DType
from max.experimental import functional as F
from max.experimental.tensor import Tensor, default_device, default_dtype
from max.graph import DeviceRef, TensorType
from step_02 import causal_mask
from step_12 import convert_hf_state_dict
from step_13 import GPT2CachedLMHeadModel


def padding_mask(attention_mask):
    """attention_mask [batch, total]: 1 where a slot holds a real token, 0 where it holds padding.

    Returns an additive mask [batch, 1, 1, total]: 0 on real tokens, a large negative number on padding,
    the same for every head and every query of the row.
    """
    # TODO: turn the 0/1 mask into 0 (real) and a large *finite* negative number (padding), in float32.
    #       Why finite: the lesson's "A query with nothing to see".
    # TODO: reshape to [batch, 1, 1, total], so it broadcasts over heads and queries.
    raise NotImplementedError("TODO: the padding mask")


def batched_attention(attn, hidden_states, past_key, past_value, padding):
    """Step 13's cached attention, where each row also hides its own padding, and the cache is read, never copied.

    hidden_states [batch, seq, n_embd]; past_key, past_value [batch, n_head, past, head_dim]: the cache, kept by
    the caller (past is at least 1); padding [batch, 1, 1, past + seq], from padding_mask. Returns (output
    [batch, seq, n_embd], the new tokens' own key and value [batch, n_head, seq, head_dim]).
    """
    # TODO: q, k and v of the new tokens, split into heads, as in your cached_attention.
    # TODO: the scores against the cached keys and against the new keys, side by side, [batch, n_head, seq,
    #       past + seq]; the causal mask and `padding` added; one softmax over them all.
    # TODO: each part of the weights times its own values (the cache's, the new tokens'), the two added.
    raise NotImplementedError("TODO: attention that hides padding and reads the cache")


class GPT2BatchedLMHeadModel(GPT2CachedLMHeadModel):
    """Your cached GPT-2 (same parameters), taking a batch of requests of different lengths in one call."""

    def forward(self, input_ids, input_mask, past_key_values, past_mask):
        """input_ids [batch, seq]: each row's new tokens, padding first; input_mask [batch, seq]: 1 on a real
        token, 0 on padding; past_key_values: one (key, value) [batch, n_head, past, head_dim] per block, the
        cache; past_mask [batch, past]: which cached slots of each row are real.

        Returns (logits [batch, vocab_size] of each row's last token, one (key, value) [batch, n_head, seq,
        head_dim] per block: the new tokens', for the caller to add to its cache).
        """
        # TODO: each new token's position: the number of real tokens before it in its own row.
        # TODO: the row's whole mask, cached slots then new ones, and padding_mask of it.
        # TODO: embeddings, then each block with batched_attention, as your step 13 forward does.
        # TODO: ln_f and lm_head for each row's last token only. Return (logits, the new (key, value) pairs).
        raise NotImplementedError("TODO: the batched forward")


def load_batched_gpt2(config, state_dict, *, device=None):
    """GPT2BatchedLMHeadModel with HF's weights, compiled for any batch, new-token count and cache length.

    The compiled model is called as model(input_ids, input_mask, past_key_values, past_mask).
    """
    # TODO: as load_cached_gpt2 in step 13, with four input types: the ids and input_mask (int64,
    #       [batch, seq]), the cache, and past_mask (int64, [batch, past]).
    raise NotImplementedError("TODO: compile the batched model")
