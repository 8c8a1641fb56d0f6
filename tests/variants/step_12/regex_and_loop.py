# expect: pass
# a different style: a regex for the names, an explicit list of the Conv1D layers, a default device by name
import re

import numpy as np
from max import driver
from max.dtype import DType
from max.experimental import functional as F
from max.experimental.tensor import default_device, default_dtype
from max.graph import DeviceRef, TensorType
from step_11 import GPT2LMHeadModel

TRANSPOSED = {"c_attn", "c_proj", "c_fc"}  # every Conv1D in GPT-2 (attn.c_proj and mlp.c_proj share a name)
LAYER = re.compile(r"^(?:transformer\.)?(h\.\d+\.(attn|mlp)\.(\w+)\.(weight|bias)|h\.\d+\.ln_[12]\.\w+|w[tp]e\.weight|ln_f\.\w+)$")


def convert_hf_state_dict(state_dict):
    out = {}
    for key in sorted(state_dict):
        m = LAYER.match(key)
        if m is None:
            continue  # lm_head.weight and the attn.bias / attn.masked_bias buffers
        array = np.array(state_dict[key], dtype=np.float32, copy=True)
        if m.group(3) in TRANSPOSED and m.group(4) == "weight":
            array = np.transpose(array).copy()
        out["transformer." + m.group(1)] = array
    out["lm_head.weight"] = np.array(out["transformer.wte.weight"])
    return out


def load_gpt2(config, state_dict, *, device=None):
    if device is None:
        device = driver.CPU()
    weights = convert_hf_state_dict(state_dict)
    with F.lazy(), default_dtype(DType.float32), default_device(device):
        model = GPT2LMHeadModel(config)
    return model.compile(TensorType(DType.int64, ["batch", "seq"], device=DeviceRef.from_device(device)),
                         weights=weights)
