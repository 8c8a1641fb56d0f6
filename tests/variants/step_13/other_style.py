# expect: pass
# correct, written differently: q|k|v split by one reshape, q scaled before the matmul, the blocks walked by
# index, the cache length read from the values, the mask's cached part made with F.full
import math

from max import driver
from max.dtype import DType
from max.experimental import functional as F
from max.experimental.tensor import Tensor, default_device, default_dtype
from max.graph import DeviceRef, TensorType
from step_02 import causal_mask
from step_11 import GPT2LMHeadModel
from step_12 import convert_hf_state_dict


def cached_attention(attn, hidden_states, past_key, past_value):
    b, s = hidden_states.shape[0], hidden_states.shape[1]
    heads, width = int(past_value.shape[1]), int(past_value.shape[3])
    past = past_value.shape[2]
    qkv = attn.c_attn(hidden_states).reshape([b, s, 3 * heads, width]).transpose(1, 2)  # [b, 3h, s, w]
    q, k, v = F.split(qkv, [heads, heads, heads], axis=1)
    key = F.concat([past_key, k], axis=-2)
    value = F.concat([past_value, v], axis=-2)
    seen = F.full([s, past], 0.0, dtype=q.dtype, device=q.device)
    mask = F.concat([seen, causal_mask(s, 0, dtype=q.dtype, device=q.device)], axis=-1)
    scores = (q * (1.0 / math.sqrt(width))) @ key.transpose(-1, -2) + mask
    out = F.softmax(scores, axis=-1) @ value
    return attn.c_proj(out.transpose(1, 2).reshape([b, s, heads * width])), key, value


class GPT2CachedLMHeadModel(GPT2LMHeadModel):
    def forward(self, input_ids, past_key_values):
        body = self.transformer
        offset = past_key_values[0][1].shape[2]
        n = input_ids.shape[-1]
        h = body.wte(input_ids) + body.wpe(Tensor.arange(offset, offset + n, out_dim=n, dtype=DType.int64, device=input_ids.device))
        cache = []
        for i, block in enumerate(body.h):
            a, k, v = cached_attention(block.attn, block.ln_1(h), *past_key_values[i])
            h = h + a
            h = h + block.mlp(block.ln_2(h))
            cache.append((k, v))
        return self.lm_head(body.ln_f(h)), cache


def load_cached_gpt2(config, state_dict, *, device=None):
    device = device if device is not None else driver.CPU()
    with F.lazy(), default_dtype(DType.float32), default_device(device):
        model = GPT2CachedLMHeadModel(config)
    ref = DeviceRef.from_device(device)
    cache_type = TensorType(DType.float32, ["batch", config.n_head, "past", config.n_embd // config.n_head], ref)
    return model.compile(TensorType(DType.int64, ["batch", "seq"], ref),
                         [(cache_type, cache_type)] * config.n_layer, weights=convert_hf_state_dict(state_dict))
