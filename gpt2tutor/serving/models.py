"""The GPT-2 that the serving architecture runs: the tutor's reference, or the learner's own.

`max serve` starts the architecture package (gpt2tutor/serving/arch) in a worker process; its
pipeline model calls `load_served_model`, which reads two environment variables that
`gpt2tutor serve` sets:

    GPT2TUTOR_SERVE_MODEL      "reference" (the default) or "learner"
    GPT2TUTOR_SERVE_EXERCISES  the learner's exercises folder (for "learner")

Both kinds answer `next_token_logits(request_id, tokens)` with the logits [vocab_size] of the
token after `tokens`, and forget a request on `release(request_id)`. Both keep one KV cache per
request in flight, so each step feeds only the tokens the model has not seen yet:

- the reference, the tutor's compiled model (gpt2tutor/generation/kv_model.py);
- the learner's own pipeline: their conversion of the checkpoint's weights (step 12) inside their
  `load_cached_gpt2`, which compiles their GPT2CachedLMHeadModel (step 13). Every number comes from
  their code; the tutor only keeps each request's cache between MAX's steps.
"""

from __future__ import annotations

import importlib
import os
from collections import OrderedDict
from pathlib import Path

import numpy as np

ENV_MODEL = "GPT2TUTOR_SERVE_MODEL"
ENV_EXERCISES = "GPT2TUTOR_SERVE_EXERCISES"
KINDS = ("reference", "learner")


def load_served_model(model_path: str, device):
    """The model `GPT2TUTOR_SERVE_MODEL` names, with the weights of the checkpoint at `model_path`."""
    from ..generation.checkpoint import resolve
    from ..maxenv import interrupts_deferred, tune_process

    tune_process()
    with interrupts_deferred():  # what MAX's worker hasn't loaded yet, where a Ctrl-C can't abort the import
        for name in ("max.experimental.tensor", "max.experimental.functional", "max.experimental.nn"):
            importlib.import_module(name)
    kind = os.environ.get(ENV_MODEL, "reference")
    if kind not in KINDS:
        raise ValueError(f"{ENV_MODEL}={kind!r}: expected one of {', '.join(KINDS)}")
    checkpoint = resolve(model_path)
    if kind == "learner":
        folder = os.environ.get(ENV_EXERCISES)
        if not folder:
            raise ValueError(f"{ENV_MODEL}=learner needs {ENV_EXERCISES}, the folder holding step_01.py ...")
        return LearnerGPT2(checkpoint, Path(folder), device)
    return ReferenceGPT2(checkpoint, device)


class RequestCaches:
    """Each request's cache and the tokens it holds; a request whose tokens no longer extend them starts over."""

    def __init__(self, new_cache, max_requests: int = 64):
        self._new_cache = new_cache
        self.max_requests = max_requests
        self._caches: OrderedDict[object, tuple] = OrderedDict()  # request id -> (cache, tokens fed)

    def take(self, request_id, tokens: np.ndarray) -> tuple[object, np.ndarray]:
        """The request's cache and the tokens of `tokens` it has not seen."""
        cache, seen = self._caches.pop(request_id, (None, None))
        if cache is None or len(seen) >= len(tokens) or not np.array_equal(tokens[:len(seen)], seen):
            cache, seen = self._new_cache(), tokens[:0]  # a new or changed request
        return cache, tokens[len(seen):]

    def keep(self, request_id, cache, tokens: np.ndarray) -> None:
        self._caches[request_id] = (cache, tokens)
        while len(self._caches) > self.max_requests:  # requests MAX never released
            self._caches.popitem(last=False)

    def release(self, request_id) -> None:
        self._caches.pop(request_id, None)


class ReferenceGPT2:
    """The tutor's compiled GPT-2 with a KV cache for each request in flight."""

    def __init__(self, checkpoint, device):
        from ..generation.kv_model import CompiledGPT2

        self.config = checkpoint.config
        self.model = CompiledGPT2(self.config, checkpoint.state_dict(), device)
        self.caches = RequestCaches(lambda: self.model.new_cache(self.config.n_positions))

    def next_token_logits(self, request_id, tokens: np.ndarray) -> np.ndarray:
        cache, new = self.caches.take(request_id, tokens)
        _, logits = self.model.step(cache, new)
        self.caches.keep(request_id, cache, tokens)
        return logits

    def release(self, request_id) -> None:
        self.caches.release(request_id)


class LearnerGPT2:
    """The learner's compiled cached GPT-2 (steps 12-13) with a cache of their model's for each request."""

    def __init__(self, checkpoint, exercises: Path, device):
        from ..generation.learner_model import LearnerModel, learner_imports

        self.device = device
        with learner_imports(exercises) as modules:  # their classes stay alive in the compiled model
            self.model = LearnerModel(modules, checkpoint.config, checkpoint.hf_state_dict(), device, exercises)
        self.caches = RequestCaches(self.model.empty_cache)

    def next_token_logits(self, request_id, tokens: np.ndarray) -> np.ndarray:
        from max.driver import CPU
        from max.experimental.tensor import Tensor

        past, new = self.caches.take(request_id, tokens)
        ids = Tensor.from_dlpack(np.ascontiguousarray(new.reshape(1, -1))).to(self.device)
        logits, past = self.model.step(ids, past)  # [1, len(new), vocab]
        self.caches.keep(request_id, past, tokens)
        return np.asarray(logits.to(CPU()).to_numpy())[0, -1]

    def release(self, request_id) -> None:
        self.caches.release(request_id)
