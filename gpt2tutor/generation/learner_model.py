"""The learner's own GPT-2 pipeline, from their exercise files: every line that runs is theirs.

Their GPT2Config (step 01) is sized from the checkpoint; their load_cached_gpt2 (step 13) converts
HF's weights with their convert_hf_state_dict (step 12) and compiles their GPT2CachedLMHeadModel
(steps 02-11 beneath it) with a symbolic cache length; their generate_tokens (step 14) chooses each
token, feeding the prompt once and then one token a call. The tutor only fetches the checkpoint and
the tokenizer, holds the cache between calls, and reports each token as it arrives.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

import numpy as np

from ..curriculum import STEPS
from ..frames import learner_frames
from ..reference.step_01 import GPT2Config


class LearnerCodeError(Exception):
    """The learner's code failed; the message is one line saying where."""


def _where(exc: BaseException, exercises: Path) -> str:
    """'step_07.py line 31' for the innermost frame in the learner's files, else ''."""
    frames = learner_frames(exc, exercises)
    if not frames:
        return ""
    last = frames[-1]
    return f" at {Path(last.filename).name} line {last.lineno}"


def describe(exc: BaseException, exercises: Path, doing: str) -> LearnerCodeError:
    message = " ".join(str(exc).split())
    if len(message) > 200:
        message = message[:197] + "..."
    return LearnerCodeError(f"your code failed while {doing}{_where(exc, exercises)}: "
                            f"{type(exc).__name__}: {message}")


@contextmanager
def learner_imports(exercises: Path) -> Iterator[dict[str, ModuleType]]:
    """Imports every step's module from the exercises folder, as the checks do; undone afterwards."""
    names = [s.module for s in STEPS]

    def forget() -> None:
        for name in names:
            sys.modules.pop(name, None)

    forget()  # never a stale copy from an earlier workspace in this process
    folder = str(exercises.resolve())
    sys.path.insert(0, folder)
    try:
        modules = {}
        for name in names:
            try:
                modules[name] = importlib.import_module(name)
            except Exception as exc:
                raise describe(exc, exercises, f"importing {name}.py") from None
        yield modules
    finally:
        if folder in sys.path:
            sys.path.remove(folder)
        forget()


class LearnerModel:
    """The learner's compiled cached GPT-2 holding the checkpoint's weights, and the cache of one generation.

    Called with new token ids [1, n], it returns their logits [1, n, vocab] and keeps the extended cache.
    """

    def __init__(self, modules: dict[str, ModuleType], config: GPT2Config, hf_weights: dict[str, np.ndarray],
                 device, exercises: Path):
        self._exercises = exercises
        self._device = device
        sizes = {k: getattr(config, k) for k in ("vocab_size", "n_positions", "n_embd", "n_layer", "n_head",
                                                 "n_inner", "layer_norm_epsilon")}
        self._cache_shape = (1, config.n_head, 0, config.n_embd // config.n_head)
        self._n_layer = config.n_layer
        try:
            their_config = modules["step_01"].GPT2Config(**sizes)
            self._run = modules["step_13"].load_cached_gpt2(their_config, hf_weights, device=device)
        except Exception as exc:
            raise describe(exc, exercises, "loading and compiling your model (load_cached_gpt2)") from None
        self.reset()

    def empty_cache(self) -> list:
        """(key, value) of shape [1, n_head, 0, head_dim] for every block: nothing seen yet."""
        from max.experimental.tensor import Tensor

        def empty():
            return Tensor.from_dlpack(np.zeros(self._cache_shape, dtype=np.float32)).to(self._device)

        return [(empty(), empty()) for _ in range(self._n_layer)]

    def reset(self) -> None:
        self.past = self.empty_cache()

    def step(self, input_ids, past: list) -> tuple:
        """Their compiled model on new ids [1, n] after the cache `past`: (logits [1, n, vocab], the longer cache)."""
        try:
            return self._run(input_ids, past)
        except Exception as exc:
            raise describe(exc, self._exercises, "running your compiled GPT2CachedLMHeadModel") from None

    def __call__(self, input_ids):
        logits, self.past = self.step(input_ids, self.past)
        return logits


class StreamingModel:
    """What the learner's generate_tokens calls: their cached model, reporting each new token as it arrives.

    The first call gets the prompt; every later call gets the token chosen last, which is reported then
    (its time is the time it became known). It also counts the tokens each call brings, so a loop that
    feeds the whole sequence again is caught. top_p, which step 14 doesn't have, is applied here to the
    last position's logits (tokens outside the nucleus get -inf) before their code samples from them.
    """

    def __init__(self, model: LearnerModel, prompt_len: int, on_token: Callable[[int], None],
                 top_p: float | None = None, temperature: float = 1.0):
        self._model = model
        self._prompt_len = prompt_len
        self._on_token = on_token
        self._top_p = top_p
        self._temperature = temperature
        self.seen = 0  # generated tokens reported so far
        self.calls = 0

    def __call__(self, input_ids):
        self.calls += 1
        ids = np.asarray(input_ids.to_numpy()).reshape(-1)
        if self.calls == 1 and len(ids) != self._prompt_len:
            raise LearnerCodeError(f"your generate_tokens first called the model with {len(ids)} tokens; the "
                                   f"prompt is {self._prompt_len}: give it the whole prompt first")
        if self.calls > 1:
            if len(ids) != 1:
                raise LearnerCodeError(f"your generate_tokens gave the model {len(ids)} tokens on call "
                                       f"{self.calls}: with the KV cache, each call after the prompt gets only "
                                       "the token just picked (step 14)")
            self.seen += 1
            self._on_token(int(ids[0]))
        logits = self._model(input_ids)
        if self._top_p is not None and self._top_p < 1.0:
            logits = self._nucleus(logits)
        return logits

    def report(self, ids: np.ndarray) -> None:
        """Reports the tokens of `ids` (prompt + generated) not reported yet (the last one, at the end)."""
        for token in ids[self._prompt_len + self.seen:]:
            self.seen += 1
            self._on_token(int(token))

    def _nucleus(self, logits):
        from max.driver import CPU
        from max.experimental.tensor import Tensor

        from .sampling import nucleus_mask

        array = np.array(logits.to(CPU()).to_numpy(), dtype=np.float32)  # [1, seq, vocab], a copy
        last = array[0, -1]
        array[0, -1] = np.where(nucleus_mask(last.astype(np.float64) / self._temperature, self._top_p),
                                last, -np.inf)
        return Tensor.from_dlpack(array).to(logits.device)


def generate_with_learner_code(modules: dict[str, ModuleType], model: LearnerModel, prompt_ids: list[int], *,
                               max_new_tokens: int, greedy: bool, temperature: float, top_k: int | None,
                               top_p: float | None, seed: int | None, device,
                               on_token: Callable[[int], None], exercises: Path) -> list[int]:
    """Runs the learner's generate_tokens; returns the new token ids (reported through on_token as they come)."""
    from max.experimental.tensor import Tensor

    model.reset()  # a new generation starts from an empty cache
    stream = StreamingModel(model, len(prompt_ids), on_token, top_p=None if greedy else top_p,
                            temperature=temperature)
    ids = Tensor.from_dlpack(np.asarray([prompt_ids], dtype=np.int64)).to(device)
    try:
        out = modules["step_14"].generate_tokens(
            stream, ids, max_new_tokens, temperature=temperature, top_k=top_k, do_sample=not greedy, seed=seed)
        result = np.asarray(out.to_numpy())
    except LearnerCodeError:
        raise
    except Exception as exc:
        raise describe(exc, exercises, "running your generate_tokens") from None
    if result.ndim != 2 or result.shape[0] != 1 or result.dtype.kind not in "iu":
        raise LearnerCodeError(f"your generate_tokens returned shape {list(result.shape)} {result.dtype}; "
                               f"expected [1, {len(prompt_ids) + max_new_tokens}] int64")
    if result.shape[1] != len(prompt_ids) + max_new_tokens or list(result[0, :len(prompt_ids)]) != prompt_ids:
        raise LearnerCodeError(f"your generate_tokens returned {result.shape[1]} ids; expected the "
                               f"{len(prompt_ids)}-token prompt followed by {max_new_tokens} new tokens")
    stream.report(result[0])  # the last token is never fed back to the model
    return [int(t) for t in result[0, len(prompt_ids):]]
