# expect: fail: the mask hides the diagonal
# the new tokens' band kept on the wrong side: num_lower and num_upper mixed up
"""Step 13: a key/value cache, so each new token costs one token's work."""

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
    """attn (step 07) over new tokens that also see the cached ones.

    hidden_states: [batch, seq, n_embd], the new tokens; past_key, past_value: [batch, n_head, past, head_dim].
    Returns (output [batch, seq, n_embd], key and value [batch, n_head, past + seq, head_dim]).
    """
    head_dim = int(past_key.shape[3])  # static: a plain int
    past = past_key.shape[2]  # symbolic once compiled: never int() it
    seq = hidden_states.shape[1]
    n_embd = int(hidden_states.shape[2])
    q, k, v = F.split(attn.c_attn(hidden_states), [n_embd, n_embd, n_embd], axis=-1)
    q = attn.split_heads(q)  # step 07's own split: [batch, n_head, seq, head_dim]
    key = F.concat([past_key, attn.split_heads(k)], axis=2)  # the cache grows along the sequence axis
    value = F.concat([past_value, attn.split_heads(v)], axis=2)

    scores = q @ key.transpose(-2, -1) / math.sqrt(head_dim)  # [batch, n_head, seq, past + seq]
    # causal_mask(seq, past) says the same, but band_part needs `past` as a Python int; this form traces:
    # every cached key is visible, and the new keys are masked as in step 07.
    visible = F.zeros([seq, past], dtype=scores.dtype, device=scores.device)
    hidden = F.full([seq, seq], float("-inf"), dtype=scores.dtype, device=scores.device)
    new_keys = F.band_part(hidden, num_lower=0, num_upper=None)  # 0 below the diagonal
    mask = F.concat([visible, new_keys], axis=1)
    weights = F.softmax(scores + mask, axis=-1)
    return attn.c_proj(attn.merge_heads(weights @ value)), key, value


class GPT2CachedLMHeadModel(GPT2LMHeadModel):
    """Your GPT2LMHeadModel (same parameters) with a forward that reads and extends a KV cache."""

    def forward(self, input_ids, past_key_values):
        """input_ids [batch, seq]: the new tokens; past_key_values: one (key, value) per block.

        Returns (logits [batch, seq, vocab_size] of the new tokens, the extended past_key_values).
        """
        t = self.transformer
        past = past_key_values[0][0].shape[2]
        seq = input_ids.shape[1]
        # past .. past+seq-1, made by arange itself: `arange(seq) + past` would turn the symbolic `past` into a
        # scalar on the CPU, which a graph for a GPU refuses to add to a tensor on the GPU
        positions = Tensor.arange(past, past + seq, out_dim=seq, dtype=DType.int64, device=input_ids.device)
        x = t.wte(input_ids) + t.wpe(positions)  # the new tokens sit at positions past .. past+seq-1
        new_past = []
        for block, (past_key, past_value) in zip(t.h, past_key_values):
            out, key, value = cached_attention(block.attn, block.ln_1(x), past_key, past_value)
            x = x + out
            x = x + block.mlp(block.ln_2(x))
            new_past.append((key, value))
        return self.lm_head(t.ln_f(x)), new_past


def load_cached_gpt2(config, state_dict, *, device=None):
    """GPT2CachedLMHeadModel with HF's weights, compiled for any batch, new-token count and cache length."""
    device = device or CPU()
    ref = DeviceRef.from_device(device)
    with default_device(device), default_dtype(DType.float32), F.lazy():
        model = GPT2CachedLMHeadModel(config)
    kv = TensorType(DType.float32, ["batch", config.n_head, "past", config.n_embd // config.n_head], ref)
    ids = TensorType(DType.int64, ["batch", "seq"], ref)
    return model.compile(ids, [(kv, kv) for _ in range(config.n_layer)],
                         weights=convert_hf_state_dict(state_dict))
