# expect: fail: returned the module itself
"""Step 12: GPT-2's real weights in your model, compiled into one graph."""

import numpy as np
from max.driver import CPU
from max.dtype import DType
from max.experimental import functional as F
from max.experimental.tensor import default_device, default_dtype
from max.graph import DeviceRef, TensorType
from step_11 import GPT2LMHeadModel

# HF's GPT-2 computes these with Conv1D, whose weight is [in, out]; Linear's is [out, in].
CONV1D = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")
# The causal mask as stored buffers, in some checkpoints: not parameters, and our model makes its own.
BUFFERS = (".attn.bias", ".attn.masked_bias")


def convert_hf_state_dict(state_dict):
    """HF GPT-2's state dict (numpy arrays) -> our GPT2LMHeadModel's names and layouts."""
    converted = {}
    for name, value in state_dict.items():
        name = name.removeprefix("transformer.")  # both `transformer.h.0...` and `h.0...` exist on the hub
        if name.endswith(BUFFERS):
            continue
        value = np.asarray(value, dtype=np.float32)
        if name.endswith(CONV1D):
            value = value.T  # [in, out] -> [out, in]
        key = name if name == "lm_head.weight" else f"transformer.{name}"
        converted[key] = np.ascontiguousarray(value)  # load_state_dict wants contiguous arrays
    # HF ties lm_head to wte (one tensor); ours is a parameter of its own, so it gets a copy
    converted["lm_head.weight"] = converted["transformer.wte.weight"].copy()
    return converted


def load_gpt2(config, state_dict, *, device=None):
    """Our GPT2LMHeadModel holding HF's weights, compiled for int64 ids [batch, seq] (any batch, any seq)."""
    device = device or CPU()
    with default_device(device), default_dtype(DType.float32), F.lazy():
        model = GPT2LMHeadModel(config)  # lazy: the random initial values are never computed
    weights = convert_hf_state_dict(state_dict)
    ids = TensorType(DType.int64, ["batch", "seq"], DeviceRef.from_device(device))  # symbolic dims
    model.compile(ids, weights=weights)
    return model
