"""One attention head's weights for a prompt, computed with the reference modules (the command line
draws them as a heatmap).

The reference GPT2Model (the course's "model" step) runs eagerly (op by op) through the blocks before
the chosen layer; in that layer the reference attention's c_attn gives q and k, and
softmax(q k^T / sqrt(head_dim) + causal mask) is what each token (row) pays to every earlier token
(column). Its eager kernels are the ones the checks of the steps up to the model's use: their compiled
batches are loaded first (gpt2tutor.kernels), and any kernel MAX still has to compile is reported to
`on_progress` while it compiles.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ..registry import Step, by_role


def model_step() -> Step:
    """The step whose GPT2Model runs here: its checks' kernels are the ones this needs."""
    return by_role("model")


def attention_weights(config, weights: dict[str, np.ndarray], prompt_ids: list[int],
                      layer: int, on_progress: Callable[[object], None] | None = None) -> np.ndarray:
    """[n_head, seq, seq]: row i is how query i spreads its attention over keys 0..i of `layer`.

    on_progress gets Compiling and Compiled events around each kernel MAX loads or compiles on the way."""
    global _listener
    _listener = on_progress
    try:
        _prepare_kernels()
        return _run(config, weights, prompt_ids, layer)
    finally:
        _listener = None


_listener: Callable[[object], None] | None = None  # where this process's kernel reports go now


def _relay(record) -> None:
    if _listener is not None:
        _listener(record)


def _prepare_kernels() -> None:
    from .. import kernels

    kernels.preload(model_step(), emit=_relay)
    kernels.watch_compiles(_relay)  # once a process: later calls report through the same relay


def _run(config, weights: dict[str, np.ndarray], prompt_ids: list[int], layer: int) -> np.ndarray:
    from max.driver import CPU
    from max.dtype import DType
    from max.experimental import functional as F
    from max.experimental.tensor import Tensor, default_device, default_dtype

    causal_mask = by_role("mask").reference().causal_mask
    GPT2Model = model_step().reference().GPT2Model

    with default_device(CPU()), default_dtype(DType.float32), F.lazy():
        model = GPT2Model(config)
    model.load_state_dict({k.removeprefix("transformer."): v for k, v in weights.items()
                           if k.startswith("transformer.")})
    seq = len(prompt_ids)
    ids = Tensor.from_dlpack(np.asarray([prompt_ids], dtype=np.int64))  # [1, seq]
    positions = Tensor.arange(seq, dtype=DType.int64, device=CPU())  # [seq]
    x = model.wte(ids) + model.wpe(positions)  # [1, seq, n_embd]
    for block in list(model.h)[:layer]:
        x = block(x)
    block = model.h[layer]
    n_head, head_dim = config.n_head, config.n_embd // config.n_head
    q, k, _ = F.split(block.attn.c_attn(block.ln_1(x)), [config.n_embd] * 3, axis=-1)  # 2 x [1, seq, n_embd]
    q = q.reshape([seq, n_head, head_dim]).transpose(0, 1)  # [n_head, seq, head_dim]
    k = k.reshape([seq, n_head, head_dim]).transpose(0, 1)
    scores = q @ k.transpose(-2, -1) / math.sqrt(head_dim)  # [n_head, seq, seq]
    scores = scores + causal_mask(seq, 0, dtype=scores.dtype, device=scores.device)
    return np.asarray(F.softmax(scores, axis=-1).to_numpy())
