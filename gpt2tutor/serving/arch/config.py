"""What MAX asks about GPT-2 before it loads any weights.

MAX plans memory from these answers: the longest sequence a request may reach, and the size of
one token's keys and values in every layer. GPT-2 learned exactly n_positions position
embeddings, so a longer sequence has no meaning; MAX refuses prompts that reach it and stops
generating there (finish_reason "length").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from max.pipelines.lib.interfaces.arch_config import ArchConfigWithAttentionKVCache


@dataclass
class GPT2ArchConfig(ArchConfigWithAttentionKVCache):
    DEFAULT_ENCODING: ClassVar[str] = "float32"  # the weights as GPT-2 ships them, no rounding
    SUPPORTED_ENCODINGS: ClassVar[set[str]] = {"float32"}

    @classmethod
    def calculate_max_seq_len(cls, huggingface_config, model_config) -> int:
        """--max-length if given, never more than the checkpoint's n_positions."""
        n_positions = int(huggingface_config.n_positions)
        asked = model_config.max_length
        if asked is not None and asked > n_positions:
            raise ValueError(f"--max-length {asked} is more than this GPT-2's {n_positions} positions")
        return asked or n_positions

    @classmethod
    def construct_kv_params(cls, huggingface_config, pipeline_config, devices, kv_cache_config, cache_dtype):
        """The KV cache MAX plans for: n_layer x n_head heads of n_embd / n_head numbers a token."""
        c = huggingface_config
        return kv_cache_config.to_params(
            dtype=cache_dtype, n_kv_heads=int(c.n_head), head_dim=int(c.n_embd) // int(c.n_head),
            num_layers=int(c.n_layer), devices=devices,
            data_parallel_degree=pipeline_config.model.data_parallel_degree)

    @property
    def num_key_value_heads(self) -> int:
        return int(self.huggingface_config.n_head)

    @property
    def head_dim(self) -> int:
        return int(self.huggingface_config.n_embd) // int(self.huggingface_config.n_head)

    @property
    def num_layers(self) -> int:
        return int(self.huggingface_config.n_layer)
