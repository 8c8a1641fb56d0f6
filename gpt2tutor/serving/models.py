"""The GPT-2 that the serving architecture runs: the tutor's reference, or the learner's own.

`max serve` starts the architecture package (gpt2tutor/serving/arch) in a worker process; its
pipeline model calls `load_served_model`, which reads two environment variables that
`gpt2tutor serve` sets:

    GPT2TUTOR_SERVE_MODEL      "reference" (the default) or "learner"
    GPT2TUTOR_SERVE_EXERCISES  the learner's exercises folder (for "learner")

Both kinds answer `next_token_logits(request_id, tokens)` with the logits [vocab_size] of the
token after `tokens`, and forget a request on `release(request_id)`.

- The reference keeps one KV cache per request (gpt2tutor/generation/kv_model.py): each step
  feeds only the tokens it has not seen, so a token costs one position, not the whole sequence.
- The learner's GPT2LMHeadModel (step 11) has no cache, so every step replays the request's
  whole sequence through it, as their own `generate_tokens` did. Slower, and every number in
  it comes from their code.
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


def learner_weights(checkpoint, modules) -> dict[str, np.ndarray]:
    """The checkpoint's weights under GPT2LMHeadModel's names, ready for the learner's model.

    Today the tutor's conversion (gpt2tutor/weights.py hf_to_max) does it; `modules` (the learner's
    step files) is here so that a course step of their own can take this job over.
    """
    del modules
    return checkpoint.state_dict()


class ReferenceGPT2:
    """The tutor's compiled GPT-2 with a KV cache for each request in flight."""

    def __init__(self, checkpoint, device, max_requests: int = 64):
        from ..generation.kv_model import CompiledGPT2

        self.config = checkpoint.config
        self.model = CompiledGPT2(self.config, checkpoint.state_dict(), device)
        self.max_requests = max_requests
        self._caches: OrderedDict[object, tuple] = OrderedDict()  # request id -> (KVCache, tokens fed)

    def next_token_logits(self, request_id, tokens: np.ndarray) -> np.ndarray:
        cache, seen = self._caches.pop(request_id, (None, None))
        if cache is None or len(seen) >= len(tokens) or not np.array_equal(tokens[:len(seen)], seen):
            cache, seen = self.model.new_cache(self.config.n_positions), tokens[:0]  # a new or changed request
        _, logits = self.model.step(cache, tokens[len(seen):])
        self._caches[request_id] = (cache, tokens)
        while len(self._caches) > self.max_requests:  # requests MAX never released
            self._caches.popitem(last=False)
        return logits

    def release(self, request_id) -> None:
        self._caches.pop(request_id, None)


class LearnerGPT2:
    """The learner's GPT2LMHeadModel, compiled, run over each request's whole sequence every step."""

    def __init__(self, checkpoint, exercises: Path, device):
        from ..generation.learner_model import LearnerModel, learner_imports

        self.device = device
        with learner_imports(exercises) as modules:  # their classes stay alive in the compiled model
            self.model = LearnerModel(modules, checkpoint.config, learner_weights(checkpoint, modules), device,
                                      exercises, on_fallback=print)

    def next_token_logits(self, request_id, tokens: np.ndarray) -> np.ndarray:
        from max.driver import CPU
        from max.experimental.tensor import Tensor

        ids = Tensor.from_dlpack(np.ascontiguousarray(tokens.reshape(1, -1))).to(self.device)
        logits = self.model(ids)  # [1, seq, vocab]
        return np.asarray(logits.to(CPU()).to_numpy())[0, -1]

    def release(self, request_id) -> None:
        pass  # nothing kept between steps
