"""The GPT-2 that the serving architecture runs: the pipeline `generate` runs, from the learner's files
or the reference solutions.

`max serve` starts the architecture package (gpt2tutor/serving/arch) in a worker process; its
pipeline model calls `load_served_model`, which reads three environment variables that
`gpt2tutor serve` sets:

    GPT2TUTOR_SERVE_MODEL      "reference" (the default) or "learner"
    GPT2TUTOR_SERVE_EXERCISES  the learner's exercises folder (for "learner")
    GPT2TUTOR_SERVE_BATCHED    "1" (the default): the batched model (step 15) answers a step's requests in one
                               call (gpt2tutor/serving/batching.py); "0": the cached model, request by request

The model answers `next_token_logits(requests)`, each request's id and every token so far, with the logits
[len(requests), vocab_size] of the token after each, and forgets a request on `release(request_id)`. Either way
each step feeds only the tokens the model has not cached yet. Every number comes from the pipeline's code
(gpt2tutor/generation/pipeline.py): its conversion of the checkpoint's weights inside the loader that compiles
its model; the tutor only keeps the caches between MAX's steps. MAX samples the tokens itself.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path

import numpy as np

from .. import names
from ..registry import STEPS

ENV_MODEL = names.SERVE_MODEL_ENV
ENV_EXERCISES = names.SERVE_EXERCISES_ENV
ENV_BATCHED = names.SERVE_BATCHED_ENV
KINDS = ("reference", "learner")


def load_served_model(model_path: str, device):
    """The model `GPT2TUTOR_SERVE_MODEL` names, with the weights of the checkpoint at `model_path`."""
    from ..generation.checkpoint import resolve
    from ..maxenv import load_max

    load_max(*(f"max.experimental.{name}" for name in ("tensor", "functional", "nn")))  # not yet loaded in MAX's worker
    kind = os.environ.get(ENV_MODEL, "reference")
    if kind not in KINDS:
        raise ValueError(f"{ENV_MODEL}={kind!r}: expected one of {', '.join(KINDS)}")
    exercises = None
    if kind == "learner":
        folder = os.environ.get(ENV_EXERCISES)
        if not folder:
            raise ValueError(f"{ENV_MODEL}=learner needs {ENV_EXERCISES}, the folder holding {STEPS[0].filename} ...")
        exercises = Path(folder)
    checkpoint = resolve(model_path)
    if os.environ.get(ENV_BATCHED, "1") == "0":
        return ServedGPT2(checkpoint, exercises, device)
    return _batched(checkpoint, exercises, device)


def _batched(checkpoint, exercises: Path | None, device):
    from ..generation.pipeline import learner_code, reference_code
    from .batching import BatchedGPT2

    if exercises is None:
        return BatchedGPT2(reference_code(), checkpoint.config, checkpoint.hf_state_dict(), device)
    with learner_code(exercises) as code:  # their classes stay alive in the compiled model
        return BatchedGPT2(code, checkpoint.config, checkpoint.hf_state_dict(), device)


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


class ServedGPT2:
    """Request by request: a pipeline's compiled cached GPT-2 (the learner's, or the reference's for `exercises` None), with a
    cache of its model's for each request in flight."""

    def __init__(self, checkpoint, exercises: Path | None, device):
        from ..generation.pipeline import CachedModel, learner_code, reference_code

        self.device = device
        if exercises is None:
            self.model = CachedModel(reference_code(), checkpoint.config, checkpoint.hf_state_dict(), device)
        else:
            with learner_code(exercises) as code:  # their classes stay alive in the compiled model
                self.model = CachedModel(code, checkpoint.config, checkpoint.hf_state_dict(), device)
        self.caches = RequestCaches(self.model.empty_cache)

    def next_token_logits(self, requests: list[tuple[object, np.ndarray]]) -> np.ndarray:
        return np.stack([self._one(request_id, tokens) for request_id, tokens in requests])

    def _one(self, request_id, tokens: np.ndarray) -> np.ndarray:
        from max.driver import CPU
        from max.experimental.tensor import Tensor

        past, new = self.caches.take(request_id, tokens)
        ids = Tensor.from_dlpack(np.ascontiguousarray(new.reshape(1, -1))).to(self.device)
        logits, past = self.model.step(ids, past)  # [1, len(new), vocab]
        self.caches.keep(request_id, past, tokens)
        return np.asarray(logits.to(CPU()).to_numpy())[0, -1]

    def release(self, request_id) -> None:
        self.caches.release(request_id)
