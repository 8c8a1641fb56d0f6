# expect: pass
# correct, written differently: the mask from comparing positions, q|k|v split by a reshape, the blocks
# walked by index, the past length read from the value cache
import math

from max import driver
from max.dtype import DType
from max.experimental import functional as F
from max.experimental.tensor import Tensor, default_device, default_dtype
from max.graph import DeviceRef, TensorType

from step_11 import GPT2LMHeadModel
from step_12 import convert_hf_state_dict


def cached_attention(attn, hidden_states, past_key, past_value):
    b, s, e = hidden_states.shape
    heads = int(past_value.shape[1])
    width = int(past_value.shape[3])
    past = past_value.shape[2]
    qkv = attn.c_attn(hidden_states).reshape([b, s, 3, heads, width])
    q = qkv[:, :, 0].transpose(1, 2)
    k = qkv[:, :, 1].transpose(1, 2)
    v = qkv[:, :, 2].transpose(1, 2)
    key = F.concat([past_key, k], axis=-2)
    value = F.concat([past_value, v], axis=-2)
    query_pos = Tensor.arange(s, dtype=DType.int64, device=hidden_states.device) + past
    key_pos = Tensor.arange(past + s, dtype=DType.int64, device=hidden_states.device)
    allowed = key_pos.reshape([1, past + s]) <= query_pos.reshape([s, 1])
    scores = (q * (1.0 / math.sqrt(width))) @ key.transpose(-1, -2)
    scores = F.where(allowed, scores, float("-inf"))
    out = F.softmax(scores, axis=-1) @ value
    return attn.c_proj(out.transpose(1, 2).reshape([b, s, heads * width])), key, value


class GPT2CachedLMHeadModel(GPT2LMHeadModel):
    def forward(self, input_ids, past_key_values):
        body = self.transformer
        offset = past_key_values[0][1].shape[2]
        n = input_ids.shape[-1]
        h = body.wte(input_ids) + body.wpe(Tensor.arange(n, dtype=DType.int64, device=input_ids.device) + offset)
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
