# expect: pass
# correct, written differently: a helper for the mask, each block's cache taken by its index into
# past_key_values and unpacked into the call, the cache types built by a comprehension
import math

from max.driver import CPU
from max.dtype import DType
from max.experimental import functional as F
from max.experimental.tensor import Tensor, default_device, default_dtype
from max.graph import DeviceRef, TensorType
from step_02 import causal_mask
from step_11 import GPT2LMHeadModel
from step_12 import convert_hf_state_dict


def _mask(seq, past, like):
    """[seq, past + seq]: the cached columns all 0, the new ones causal."""
    seen = F.zeros([seq, past], dtype=like.dtype, device=like.device)
    return F.concat([seen, causal_mask(seq, 0, dtype=like.dtype, device=like.device)], axis=1)


def cached_attention(attn, hidden_states, past_key, past_value):
    width = int(hidden_states.shape[-1])
    q, k, v = [attn.split_heads(t) for t in F.split(attn.c_attn(hidden_states), [width] * 3, axis=-1)]
    keys = F.concat([past_key, k], axis=2)
    values = F.concat([past_value, v], axis=2)
    scores = q @ keys.transpose(-2, -1) / math.sqrt(int(past_key.shape[-1]))
    scores = scores + _mask(hidden_states.shape[1], past_key.shape[2], scores)
    return attn.c_proj(attn.merge_heads(F.softmax(scores, axis=-1) @ values)), keys, values


class GPT2CachedLMHeadModel(GPT2LMHeadModel):
    def forward(self, input_ids, past_key_values):
        body = self.transformer
        start = past_key_values[0][0].shape[2]
        # the cache's length as a tensor, moved to the ids' device before it meets them (a GPU needs that)
        where = Tensor.arange(input_ids.shape[1], dtype=DType.int64, device=input_ids.device) + Tensor.from_dim(
            start).to(input_ids.device)
        x = body.wte(input_ids) + body.wpe(where)
        extended = []
        blocks = list(body.h)
        for i in range(len(past_key_values)):
            block = blocks[i]
            attended, key, value = cached_attention(block.attn, block.ln_1(x), *past_key_values[i])
            x = x + attended
            x = x + block.mlp(block.ln_2(x))
            extended.append((key, value))
        return self.lm_head(body.ln_f(x)), extended


def load_cached_gpt2(config, state_dict, *, device=None):
    device = device or CPU()
    ref = DeviceRef.from_device(device)
    with default_device(device), default_dtype(DType.float32), F.lazy():
        model = GPT2CachedLMHeadModel(config)
    head_dim = config.n_embd // config.n_head
    caches = [tuple(TensorType(DType.float32, ["batch", config.n_head, "past", head_dim], ref) for _ in "kv")
              for _ in range(config.n_layer)]
    return model.compile(TensorType(DType.int64, ["batch", "seq"], ref), caches,
                         weights=convert_hf_state_dict(state_dict))
