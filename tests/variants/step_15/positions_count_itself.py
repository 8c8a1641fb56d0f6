# expect: fail: count the token itself
# an inclusive running count: the first token sits at 1
"""Step 15: many requests in one call: a ragged batch, padded, masked and positioned row by row."""

import math

from max.driver import CPU
from max.dtype import DType
from max.experimental import functional as F
from max.experimental.tensor import default_device, default_dtype
from max.graph import DeviceRef, TensorType
from step_02 import causal_mask
from step_12 import convert_hf_state_dict
from step_13 import GPT2CachedLMHeadModel

HIDDEN = -1e9  # hides a key; finite, so a query that sees nothing but padding averages it instead of making NaN


def padding_mask(attention_mask):
    """attention_mask [batch, total] (1: a real token, 0: padding) -> an additive mask [batch, 1, 1, total]:
    0 on the real tokens, HIDDEN on the padding, the same for every head and every query."""
    hidden = (1 - attention_mask.cast(DType.float32)) * HIDDEN
    return hidden.reshape([attention_mask.shape[0], 1, 1, attention_mask.shape[1]])


def batched_attention(attn, hidden_states, past_key, past_value, padding):
    """Step 13's cached attention, where each row also hides its own padding, and the cache is read, never copied.

    hidden_states [batch, seq, n_embd]; past_key, past_value [batch, n_head, past, head_dim]: the cache, whoever
    keeps it; padding [batch, 1, 1, past + seq] (padding_mask). Returns (output [batch, seq, n_embd], the new tokens'
    own key and value [batch, n_head, seq, head_dim]): the cache's keeper writes those into it.
    """
    head_dim = int(past_key.shape[3])
    past = past_key.shape[2]
    seq = hidden_states.shape[1]
    n_embd = int(hidden_states.shape[2])
    q, k, v = F.split(attn.c_attn(hidden_states), [n_embd, n_embd, n_embd], axis=-1)
    q, k, v = attn.split_heads(q), attn.split_heads(k), attn.split_heads(v)
    # the scores against the cached keys, then against the new ones, side by side: [batch, n_head, seq, past + seq]
    scores = F.concat([q @ past_key.transpose(-2, -1), q @ k.transpose(-2, -1)], axis=-1) / math.sqrt(head_dim)
    visible = F.zeros([seq, past], dtype=scores.dtype, device=scores.device)
    causal = F.concat([visible, causal_mask(seq, 0, dtype=scores.dtype, device=scores.device)], axis=1)
    weights = F.softmax(scores + causal + padding, axis=-1)  # one softmax over the cached and the new keys together
    # each part of the weights averages its own values: the cache's slots, then the new tokens'
    out = weights[:, :, :, :past] @ past_value + weights[:, :, :, past:] @ v  # [batch, n_head, seq, head_dim]
    return attn.c_proj(attn.merge_heads(out)), k, v


class GPT2BatchedLMHeadModel(GPT2CachedLMHeadModel):
    """Your cached GPT-2 (same parameters), taking a batch of requests of different lengths in one call."""

    def forward(self, input_ids, input_mask, past_key_values, past_mask):
        """input_ids [batch, seq]: each row's new tokens, padding first; input_mask [batch, seq]: 1 on a real token,
        0 on padding; past_key_values: one (key, value) [batch, n_head, past, head_dim] per block, the cache;
        past_mask [batch, past]: which cached slots of each row are real.

        Returns (logits [batch, vocab_size] of each row's last token, one (key, value) [batch, n_head, seq,
        head_dim] per block: the new tokens', for the caller to add to its cache).
        """
        t = self.transformer
        # a token's position is the number of real tokens before it in its row: padding is not counted
        positions = F.sum(past_mask, axis=1) + F.cumsum(input_mask, axis=1)
        padding = padding_mask(F.concat([past_mask, input_mask], axis=1))  # the cache's slots, then the new tokens'
        x = t.wte(input_ids) + t.wpe(positions)
        new_key_values = []
        for block, (past_key, past_value) in zip(t.h, past_key_values):
            out, key, value = batched_attention(block.attn, block.ln_1(x), past_key, past_value, padding)
            x = x + out
            x = x + block.mlp(block.ln_2(x))
            new_key_values.append((key, value))
        return self.lm_head(t.ln_f(x[:, -1, :])), new_key_values  # padding first: the last column is always real


def load_batched_gpt2(config, state_dict, *, device=None):
    """GPT2BatchedLMHeadModel with HF's weights, compiled for any batch, new-token count and cache length."""
    device = device or CPU()
    ref = DeviceRef.from_device(device)
    with default_device(device), default_dtype(DType.float32), F.lazy():
        model = GPT2BatchedLMHeadModel(config)
    kv = TensorType(DType.float32, ["batch", config.n_head, "past", config.n_embd // config.n_head], ref)
    new = TensorType(DType.int64, ["batch", "seq"], ref)  # the ids, and which of them are real
    cached = TensorType(DType.int64, ["batch", "past"], ref)
    return model.compile(new, new, [(kv, kv) for _ in range(config.n_layer)], cached,
                         weights=convert_hf_state_dict(state_dict))
