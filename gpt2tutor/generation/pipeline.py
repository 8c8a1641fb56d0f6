"""GPT-2 run from a course's files: the one pipeline `generate` and `serve` run.

Whose files: the learner's own (their exercises folder) or, with `--reference`, the course's reference
solutions; the code that runs is the same either way. The course data says which step gives what
(course.toml's roles):

    config        GPT2Config, sized from the checkpoint
    cached_model  load_cached_gpt2: the checkpoint's HF weights converted by the conversion step, and the
                  cached GPT2CachedLMHeadModel (the model steps beneath it) compiled with a symbolic cache length
    generation    generate_tokens: feeds the prompt once, then one token a call, choosing each token

The tutor only fetches the checkpoint and the tokenizer, holds the cache between calls (CachedModel),
reports each token as it arrives and applies top-p, which the course does not teach (StreamingModel).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import numpy as np

from ..checking.learner import LearnerFileError, imported
from ..frames import learner_frames
from ..registry import STEPS, by_role
from .sampling import SamplingSettings, nucleus_mask


class LearnerCodeError(Exception):
    """The learner's code failed; the message is one line saying where."""


class DeviceUnavailable(Exception):
    """The asked-for device doesn't exist here; the message is one line."""


def pick_device(name: str):
    """max.driver's device for --device cpu|gpu."""
    from max import driver

    if name == "cpu":
        return driver.CPU()
    if driver.accelerator_count() == 0:
        raise DeviceUnavailable("--device gpu: no GPU (accelerator) is available to MAX on this machine; "
                                "use --device cpu")
    return driver.Accelerator()


@dataclass(frozen=True)
class Code:
    """The modules one pipeline runs, by role; `exercises` is the learner's folder (None: the reference)."""

    modules: dict[str, ModuleType]
    exercises: Path | None = None

    def role(self, role: str) -> ModuleType:
        return self.modules[by_role(role).module]

    @property
    def whose(self) -> str:
        return "your code" if self.exercises is not None else "the reference code"

    def failure(self, exc: BaseException, doing: str) -> LearnerCodeError:
        """`exc`, raised while `doing`, as one line saying where in the learner's files."""
        message = " ".join(str(exc).split())
        if len(message) > 200:
            message = message[:197] + "..."
        frames = learner_frames(exc, self.exercises) if self.exercises is not None else []
        where = f" at {Path(frames[-1].filename).name} line {frames[-1].lineno}" if frames else ""
        return LearnerCodeError(f"{self.whose} failed while {doing}{where}: {type(exc).__name__}: {message}")


@contextmanager
def learner_code(exercises: Path) -> Iterator[Code]:
    """Every step's module from the exercises folder, as the checks import them; undone afterwards."""
    try:
        with imported(exercises, STEPS) as modules:
            yield Code(modules, exercises)
    except LearnerFileError as exc:
        cause = exc.cause or exc
        raise Code({}, exercises).failure(cause, f"importing {exc.step.filename}") from None


def reference_code() -> Code:
    """The course's reference solutions."""
    return Code({s.module: s.reference() for s in STEPS})


def model_sizes(config) -> dict:
    """What the course's GPT2Config takes, from a checkpoint's config."""
    return {k: getattr(config, k) for k in ("vocab_size", "n_positions", "n_embd", "n_layer", "n_head", "n_inner",
                                            "layer_norm_epsilon")}


class CachedModel:
    """A pipeline's compiled cached GPT-2 holding the checkpoint's weights, and the cache of one generation.

    Called with new token ids [1, n], it returns their logits [1, n, vocab] and keeps the extended cache.
    """

    def __init__(self, code: Code, config, hf_weights: dict[str, np.ndarray], device):
        self.code = code
        self._device = device
        self._cache_shape = (1, config.n_head, 0, config.n_embd // config.n_head)
        self._n_layer = config.n_layer
        try:
            their_config = code.role("config").GPT2Config(**model_sizes(config))
            self._run = code.role("cached_model").load_cached_gpt2(their_config, hf_weights, device=device)
        except Exception as exc:
            raise code.failure(exc, "loading and compiling your model (load_cached_gpt2)") from None
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
        """The compiled model on new ids [1, n] after the cache `past`: (logits [1, n, vocab], the longer cache)."""
        try:
            return self._run(input_ids, past)
        except Exception as exc:
            raise self.code.failure(exc, "running your compiled GPT2CachedLMHeadModel") from None

    def __call__(self, input_ids):
        logits, self.past = self.step(input_ids, self.past)
        return logits


class StreamingModel:
    """What generate_tokens calls: the cached model, reporting each new token as it arrives.

    The first call gets the prompt; every later call gets the token chosen last, which is reported then
    (its time is the time it became known). It also counts the tokens each call brings, so a loop that
    feeds the whole sequence again is caught. top_p, which the course doesn't teach, is applied here to the
    last position's logits (tokens outside the nucleus get -inf) before the loop samples from them.
    """

    def __init__(self, model: CachedModel, prompt_len: int, on_token: Callable[[int], None],
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
                                       f"the token just picked (step {by_role('generation').id})")
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

        array = np.array(logits.to(CPU()).to_numpy(), dtype=np.float32)  # [1, seq, vocab], a copy
        last = array[0, -1]
        array[0, -1] = np.where(nucleus_mask(last.astype(np.float64) / self._temperature, self._top_p),
                                last, -np.inf)
        return Tensor.from_dlpack(array).to(logits.device)


def generate(model: CachedModel, prompt_ids: list[int], max_new_tokens: int, settings: SamplingSettings,
             device, on_token: Callable[[int], None] = lambda token: None) -> list[int]:
    """Runs the pipeline's generate_tokens from an empty cache; returns the new token ids (reported through
    on_token as they come)."""
    from max.experimental.tensor import Tensor

    code = model.code
    model.reset()  # a new generation starts from an empty cache
    stream = StreamingModel(model, len(prompt_ids), on_token, top_p=None if settings.greedy else settings.top_p,
                            temperature=settings.temperature)
    ids = Tensor.from_dlpack(np.asarray([prompt_ids], dtype=np.int64)).to(device)
    try:
        out = code.role("generation").generate_tokens(
            stream, ids, max_new_tokens, temperature=settings.temperature, top_k=settings.top_k,
            do_sample=not settings.greedy, seed=settings.seed)
        result = np.asarray(out.to_numpy())
    except LearnerCodeError:
        raise
    except Exception as exc:
        raise code.failure(exc, "running your generate_tokens") from None
    if result.ndim != 2 or result.shape[0] != 1 or result.dtype.kind not in "iu":
        raise LearnerCodeError(f"your generate_tokens returned shape {list(result.shape)} {result.dtype}; "
                               f"expected [1, {len(prompt_ids) + max_new_tokens}] int64")
    if result.shape[1] != len(prompt_ids) + max_new_tokens or list(result[0, :len(prompt_ids)]) != prompt_ids:
        raise LearnerCodeError(f"your generate_tokens returned {result.shape[1]} ids; expected the "
                               f"{len(prompt_ids)}-token prompt followed by {max_new_tokens} new tokens")
    stream.report(result[0])  # the last token is never fed back to the model
    return [int(t) for t in result[0, len(prompt_ids):]]


@dataclass
class Timings:
    """When each new token became known. The clock starts when the prompt goes in (after compiling and
    loading); time to first token is when the first new token is known; tokens per second counts the
    tokens after the first over the time after the first: the steady rate, whatever the prompt's length."""

    start: float = field(default_factory=time.perf_counter)
    token_times: list[float] = field(default_factory=list)

    def mark(self) -> None:
        self.token_times.append(time.perf_counter())

    @property
    def time_to_first_token_s(self) -> float | None:
        return self.token_times[0] - self.start if self.token_times else None

    @property
    def total_s(self) -> float:
        return (self.token_times[-1] if self.token_times else time.perf_counter()) - self.start

    @property
    def tokens_per_s(self) -> float | None:
        """Tokens after the first, per second after the first (1/ttft when there is only one)."""
        n = len(self.token_times)
        if n == 0:
            return None
        if n == 1:
            return 1.0 / max(self.token_times[0] - self.start, 1e-9)
        return (n - 1) / max(self.token_times[-1] - self.token_times[0], 1e-9)
