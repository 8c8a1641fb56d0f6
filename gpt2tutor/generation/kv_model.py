"""GPT-2 with a key/value cache: each new token attends to the keys and values already computed.

Without a cache, producing token n+1 runs the whole model over all n tokens again, although the
keys and values of the first n never change. Here they are kept in two preallocated buffers,

    k_cache, v_cache: [n_layer, n_head, max_len, head_dim]

which the compiled graph writes in place: a call with `seq` new tokens at positions
start .. start+seq-1 stores their keys and values at those rows, then lets every new query attend
to the whole buffer through a mask that hides the rows not written yet (and the future). The
buffers never grow, never get copied, and one graph serves both the prompt (seq = prompt length)
and every later token (seq = 1): `seq` and `max_len` are symbolic dimensions.

The weights live in the tutor's reference modules (`gpt2tutor.reference`), so parameter names are
exactly GPT2LMHeadModel's (`transformer.h.0.attn.c_attn.weight`, ...) and `weights.hf_to_max`
loads straight into it. Only the attention is rewritten, to read and write the cache; the layer
norms, linear layers and MLP are the reference ones, called as they are.

Each call returns the greedy choice (argmax, computed inside the graph) and the last position's
logits: greedy decoding needs nothing else, sampling reads the logits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from max.driver import CPU, Buffer, Device
from max.dtype import DType
from max.experimental import functional as F
from max.experimental.nn import Linear, Module
from max.experimental.tensor import Tensor, default_device, default_dtype
from max.graph import BufferType, DeviceRef, TensorType

from ..reference.step_01 import GPT2Config
from ..reference.step_10 import GPT2Model


class CachedGPT2(Module):
    """GPT2LMHeadModel's parameters with a forward pass that reads and writes a KV cache."""

    def __init__(self, config: GPT2Config):
        self.config = config
        self.n_head = config.n_head
        self.head_dim = config.n_embd // config.n_head
        self.transformer = GPT2Model(config)  # wte, wpe, h.0 ... h.{n_layer-1}, ln_f
        self.lm_head = Linear(config.n_embd, config.vocab_size, bias=False)  # tied to wte by the loader

    def forward(self, input_ids: Tensor, start: Tensor, k_cache: Tensor, v_cache: Tensor) -> tuple[Tensor, Tensor]:
        """input_ids [1, seq] int64: the new tokens; start [] int64 (host): how many are cached already.

        Returns (next_token [1] int64, the greedy choice; logits [1, vocab_size] of the last position).
        """
        t = self.transformer
        seq = input_ids.shape[1]
        max_len = k_cache.shape[2]
        device = input_ids.device

        # absolute positions of the new tokens: start, start+1, ..., start+seq-1
        positions = Tensor.arange(seq, dtype=DType.int64, device=device) + start.to(device)  # [seq]
        # one sequence, so the batch axis is dropped: 2-D activations take the plain matmul kernels
        x = t.wte(input_ids.reshape([seq])) + t.wpe(positions)  # [seq, n_embd]

        # query i (at positions[i]) may see cache row j when j <= positions[i]; rows past the
        # newest token hold zeros (or stale values) and get -inf, so they weigh exactly 0.
        rows = Tensor.arange(max_len, dtype=DType.int64, device=device)  # [max_len]
        visible = rows.reshape([1, max_len]) <= positions.reshape([seq, 1])  # [seq, max_len]
        zero = F.full([], 0.0, dtype=x.dtype, device=device)
        blocked = F.full([], float("-inf"), dtype=x.dtype, device=device)
        mask = F.where(visible, zero, blocked)  # [seq, max_len], shared by every layer

        for layer, block in enumerate(t.h):
            x = x + self._attention(block.attn, block.ln_1(x), layer, start, mask, k_cache, v_cache)
            x = x + block.mlp(block.ln_2(x))  # [seq, n_embd]

        last = t.ln_f(x[-1:, :])  # only the last position predicts the next token: [1, n_embd]
        logits = self.lm_head(last)  # [1, vocab_size]
        next_token = F.argmax(logits, axis=-1).reshape([1]).cast(DType.int64)  # [1]
        return next_token, logits

    def _attention(self, attn, h: Tensor, layer: int, start: Tensor, mask: Tensor,
                   k_cache: Tensor, v_cache: Tensor) -> Tensor:
        """The reference attention's c_attn and c_proj around a cached core. h: [seq, n_embd]."""
        seq = h.shape[0]
        n_embd = self.n_head * self.head_dim
        q, k, v = F.split(attn.c_attn(h), [n_embd, n_embd, n_embd], axis=-1)  # 3 x [seq, n_embd]
        q, k, v = self._heads(q), self._heads(k), self._heads(v)  # 3 x [n_head, seq, head_dim]

        # write this call's keys and values at rows start .. start+seq-1 of this layer, in place
        stop = start + F.shape_to_tensor([seq]).reshape([])
        rows = (slice(start.__tensorvalue__(), stop.__tensorvalue__()), seq)
        F.buffer_store_slice(k_cache, k, [layer, slice(None), rows, slice(None)])
        F.buffer_store_slice(v_cache, v, [layer, slice(None), rows, slice(None)])
        keys, values = k_cache[layer], v_cache[layer]  # [n_head, max_len, head_dim], this call's rows included

        q = q * (1.0 / math.sqrt(self.head_dim))  # scale the smaller operand
        scores = q @ keys.transpose(-2, -1) + mask  # [n_head, seq, max_len]
        weights = F.softmax(scores, axis=-1)
        out = weights @ values  # [n_head, seq, head_dim]
        out = out.transpose(0, 1).reshape([seq, n_embd])  # heads side by side again
        return attn.c_proj(out)  # [seq, n_embd]

    def _heads(self, x: Tensor) -> Tensor:
        # [seq, n_embd] -> [seq, n_head, head_dim] -> [n_head, seq, head_dim]
        seq = x.shape[0]
        return x.reshape([seq, self.n_head, self.head_dim]).transpose(0, 1)


@dataclass
class KVCache:
    """The two cache buffers of one generation, and how many positions hold real entries."""

    k: Buffer  # [n_layer, n_head, max_len, head_dim]
    v: Buffer
    length: int = 0

    @property
    def max_len(self) -> int:
        return int(self.k.shape[2])


class CompiledGPT2:
    """CachedGPT2 compiled once for any prompt length and cache size; holds the weights."""

    def __init__(self, config: GPT2Config, weights: dict[str, np.ndarray], device: Device | None = None):
        self.config = config
        self.device = device or CPU()
        ref = DeviceRef.from_device(self.device)
        n_layer, n_head, head_dim = config.n_layer, config.n_head, config.n_embd // config.n_head
        cache_type = BufferType(DType.float32, [n_layer, n_head, "max_len", head_dim], ref)
        # parameters are declared, never filled with random values; compile() binds `weights` to them
        with default_device(self.device), default_dtype(DType.float32), F.lazy():
            model = CachedGPT2(config)
        if not isinstance(self.device, CPU):
            weights = {name: Buffer.from_numpy(array).to(self.device) for name, array in weights.items()}
        self._run = model.compile(
            TensorType(DType.int64, [1, "seq"], ref),  # input_ids
            TensorType(DType.int64, [], DeviceRef.CPU()),  # start: slice bounds live on the host
            cache_type,  # k_cache
            cache_type,  # v_cache
            weights=weights,
        )

    def new_cache(self, max_len: int) -> KVCache:
        c = self.config
        shape = (c.n_layer, c.n_head, max_len, c.n_embd // c.n_head)
        zeros = np.zeros(shape, dtype=np.float32)  # rows not yet written must not hold NaNs

        def buffer() -> Buffer:
            b = Buffer.from_numpy(zeros.copy())
            return b if isinstance(self.device, CPU) else b.to(self.device)

        return KVCache(buffer(), buffer())

    def step(self, cache: KVCache, token_ids: list[int] | np.ndarray) -> tuple[int, np.ndarray]:
        """Feeds new tokens (the prompt, then one at a time); returns (greedy next id, last logits [vocab])."""
        ids = np.asarray(token_ids, dtype=np.int64).reshape(1, -1)
        if cache.length + ids.shape[1] > cache.max_len:
            raise ValueError(f"the cache holds {cache.max_len} positions; {cache.length + ids.shape[1]} needed")
        ids_buf = Buffer.from_numpy(ids)
        if not isinstance(self.device, CPU):
            ids_buf = ids_buf.to(self.device)
        start = Buffer.from_numpy(np.array(cache.length, dtype=np.int64))
        # execute_raw takes driver Buffers as they are: no per-call argument checks or Tensor wrapping
        next_token, logits = self._run.execute_raw(ids_buf, start, cache.k, cache.v)
        cache.length += ids.shape[1]
        if not isinstance(self.device, CPU):
            next_token, logits = next_token.to(CPU()), logits.to(CPU())
        return int(next_token.to_numpy()[0]), logits.to_numpy()[0]
