# expect: pass
# a different style: the layer count read off the keys, each block's names spelled out, `.T` after a lookup
# table of what to transpose, the model built lazily inside a helper
import numpy as np
from max.driver import CPU
from max.dtype import DType
from max.experimental import functional as F
from max.experimental.tensor import default_device, default_dtype
from max.graph import DeviceRef, TensorType
from step_11 import GPT2LMHeadModel

PER_BLOCK = {  # HF's name inside a block -> whether it is a Conv1D weight, stored [in, out]
    "ln_1.weight": False, "ln_1.bias": False, "ln_2.weight": False, "ln_2.bias": False,
    "attn.c_attn.weight": True, "attn.c_attn.bias": False, "attn.c_proj.weight": True, "attn.c_proj.bias": False,
    "mlp.c_fc.weight": True, "mlp.c_fc.bias": False, "mlp.c_proj.weight": True, "mlp.c_proj.bias": False,
}


def convert_hf_state_dict(state_dict):
    plain = {(k[len("transformer."):] if k.startswith("transformer.") else k): v for k, v in state_dict.items()}
    n_layer = 1 + max(int(k.split(".")[1]) for k in plain if k.startswith("h."))
    out = {f"transformer.{k}": np.ascontiguousarray(plain[k], dtype=np.float32)
           for k in ("wte.weight", "wpe.weight", "ln_f.weight", "ln_f.bias")}
    for i in range(n_layer):
        for name, conv1d in PER_BLOCK.items():
            value = np.asarray(plain[f"h.{i}.{name}"], dtype=np.float32)
            out[f"transformer.h.{i}.{name}"] = np.ascontiguousarray(value.T if conv1d else value)
    out["lm_head.weight"] = out["transformer.wte.weight"].copy()
    return out


def _lazy_model(config, device):
    with default_device(device), default_dtype(DType.float32), F.lazy():
        return GPT2LMHeadModel(config)


def load_gpt2(config, state_dict, *, device=None):
    device = CPU() if device is None else device
    model = _lazy_model(config, device)
    ids = TensorType(DType.int64, ["batch", "seq"], DeviceRef.from_device(device))
    return model.compile(ids, weights=convert_hf_state_dict(state_dict))
