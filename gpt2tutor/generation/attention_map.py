"""One attention head's weights for a prompt, computed with the reference modules, and drawn as a heatmap.

The model runs eagerly (op by op) through the blocks before the chosen layer; in that layer the
reference attention's c_attn gives q and k, and softmax(q k^T / sqrt(head_dim) + causal mask) is
what each token (row) pays to every earlier token (column). Its eager kernels are the ones the checks
of steps up to MODEL_STEP use: the compiled bundles are loaded first (gpt2tutor.kernels), and any kernel
MAX still has to compile is reported to `on_progress` while it compiles.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ..reference.step_01 import GPT2Config

MODEL_STEP = 10  # the step whose GPT2Model (gpt2tutor.reference.step_10) runs here


def attention_weights(config: GPT2Config, weights: dict[str, np.ndarray], prompt_ids: list[int],
                      layer: int, on_progress: Callable[[dict], None] | None = None) -> np.ndarray:
    """[n_head, seq, seq]: row i is how query i spreads its attention over keys 0..i of `layer`.

    on_progress gets {"compiling": what} and {"compiled": what, "seconds": s} around each kernel MAX loads
    or compiles on the way."""
    global _listener
    _listener = on_progress
    try:
        _prepare_kernels()
        return _run(config, weights, prompt_ids, layer)
    finally:
        _listener = None


_listener: Callable[[dict], None] | None = None  # where this process's kernel reports go now


def _relay(**record) -> None:
    if _listener is not None:
        _listener(record)


def _prepare_kernels() -> None:
    from .. import kernels

    kernels.preload(MODEL_STEP, emit=_relay)
    kernels.watch_compiles(_relay)  # once a process: later calls report through the same relay


def _run(config: GPT2Config, weights: dict[str, np.ndarray], prompt_ids: list[int], layer: int) -> np.ndarray:
    from max.driver import CPU
    from max.dtype import DType
    from max.experimental import functional as F
    from max.experimental.tensor import Tensor, default_device, default_dtype

    from ..reference.step_02 import causal_mask
    from ..reference.step_10 import GPT2Model

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


# Dark to bright: the share of attention a cell holds.
_RAMP = ["#1b1b3a", "#2e2a6b", "#4b2991", "#872ca2", "#c0369d", "#ea4f88", "#fa7876", "#f6a97a", "#edd9a3", "#ffffe0"]


def _label(token: str, width: int) -> str:
    text = token.replace("\n", "\\n").replace("\t", "\\t").replace(" ", "·")
    return text if len(text) <= width else text[: width - 1] + "…"


def heatmap(weights: np.ndarray, tokens: list[str], title: str):
    """A rich renderable: one row per query token, one column per key token, colour = weight; under it, the
    legend and the tokens' numbers, wrapped at the console's width."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    seq = len(tokens)
    label_width = min(max(len(_label(t, 99)) for t in tokens), 14)
    table = Table(title=title, show_header=True, header_style="dim", box=None, pad_edge=False, padding=(0, 0))
    table.add_column("query \\ key", justify="right", no_wrap=True)
    table.add_column(" ", no_wrap=True, width=1)  # a gap between the labels and the cells
    for j in range(seq):
        table.add_column(f"{j:>2}", justify="center", no_wrap=True, min_width=3)
    for i in range(seq):
        cells = [Text(f"{_label(tokens[i], label_width)} {i:>2}"), Text(" ")]
        for j in range(seq):
            if j > i:
                cells.append(Text("   "))
                continue
            w = float(weights[i, j])
            shade = min(int(w * len(_RAMP)), len(_RAMP) - 1)
            ink = "black" if shade >= len(_RAMP) // 2 else "white"
            cells.append(Text(f"{round(w * 100):>2} " if 0.005 <= w < 0.995 else (" ■ " if w >= 0.995 else "   "),
                              style=f"{ink} on {_RAMP[shade]}"))
        table.add_row(*cells)
    legend = Text("rows: each token (query) · columns: the tokens it attends to (keys) · numbers are percent, "
                  "■ is all of it; · marks a space", style="dim")
    keys = Text("keys: " + "  ".join(f"{j}={_label(t, 12)}" for j, t in enumerate(tokens)), style="dim")
    return Group(table, Text(""), legend, keys)
