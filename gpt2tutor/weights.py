"""HuggingFace GPT-2 checkpoints to the parameter names and layouts of our MAX modules."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

# HF's GPT-2 stores these as Conv1D, [in, out]; MAX's Linear wants [out, in].
_CONV1D = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")
# Buffers some checkpoints carry (the causal mask); they are not parameters.
_BUFFERS = (".attn.bias", ".attn.masked_bias")


def hf_to_max(state: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Converts a GPT2LMHeadModel (or GPT2Model) state dict to GPT2LMHeadModel's MAX names.

    Keys come out as `transformer.…` and `lm_head.weight`; lm_head is tied to wte (a copy,
    never a shared tensor) when the checkpoint leaves it out, as GPT-2's own files do.
    """
    out: dict[str, np.ndarray] = {}
    for name, value in state.items():
        key = name if name.startswith(("transformer.", "lm_head.")) else f"transformer.{name}"
        if key.endswith(_BUFFERS):
            continue
        array = np.asarray(value, dtype=np.float32)
        if key.endswith(_CONV1D):
            array = array.T
        out[key] = np.ascontiguousarray(array)
    if "lm_head.weight" not in out:
        out["lm_head.weight"] = out["transformer.wte.weight"].copy()
    return out
