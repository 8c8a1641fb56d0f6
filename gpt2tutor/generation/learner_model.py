"""The learner's own GPT-2, built from their exercise files, and their step-12 sampling.

Every line that runs is theirs: their GPT2Config (step 01) sized from the checkpoint, their
GPT2LMHeadModel (step 11, with steps 02-10 beneath it), compiled as one graph with a symbolic
sequence length, and their `generate_tokens` (step 12) choosing each token.

Their attention (step 07) has no cache, so each new token runs the model over the whole sequence
again: slower than the tutor's cached model, but an honest run of the code they wrote. Swapping
their attention for the tutor's cached one would make it faster and prove less.

`generate_tokens` calls the model with the sequence so far, so the wrapper passed to it sees each
new token as soon as it is chosen (the next call's input): that is how tokens stream to the terminal.
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
    """Imports step_01 ... step_12 from the exercises folder, as the checks do; undone afterwards."""
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
    """The learner's GPT2LMHeadModel with the checkpoint's weights: ids [1, seq] -> logits [1, seq, vocab]."""

    def __init__(self, modules: dict[str, ModuleType], config: GPT2Config, weights: dict[str, np.ndarray],
                 device, exercises: Path, on_fallback: Callable[[str], None] = lambda note: None):
        from max.driver import CPU, Buffer
        from max.dtype import DType
        from max.experimental import functional as F
        from max.experimental.tensor import default_device, default_dtype
        from max.graph import DeviceRef, TensorType

        self._exercises = exercises
        self.compiled = False
        sizes = {k: getattr(config, k) for k in ("vocab_size", "n_positions", "n_embd", "n_layer", "n_head",
                                                 "n_inner", "layer_norm_epsilon")}
        try:
            their_config = modules["step_01"].GPT2Config(**sizes)
            with default_device(device), default_dtype(DType.float32), F.lazy():
                model = modules["step_11"].GPT2LMHeadModel(their_config)
            names = {name: tuple(int(d) for d in p.shape) for name, p in model.parameters}
        except Exception as exc:
            raise describe(exc, exercises, "building GPT2LMHeadModel") from None
        self._check_names(names, weights)
        if not isinstance(device, CPU):
            weights = {k: Buffer.from_numpy(v).to(device) for k, v in weights.items()}
        try:
            self._run = model.compile(TensorType(DType.int64, [1, "seq"], DeviceRef.from_device(device)),
                                      weights=weights)
            self.compiled = True
        except Exception as exc:
            # Some correct code can't be traced with a symbolic length (e.g. int() of a dimension):
            # run it op by op instead, which is what the checks did.
            on_fallback(f"your model could not be compiled as one graph ({type(exc).__name__}: "
                        f"{' '.join(str(exc).split())[:120]}{_where(exc, exercises)}); running it op by op, "
                        "which is much slower")
            try:
                model.load_state_dict(weights)
            except Exception as exc2:
                raise describe(exc2, exercises, "loading the weights into your model") from None
            self._run = model

    @staticmethod
    def _check_names(names: dict[str, tuple[int, ...]], weights: dict[str, np.ndarray]) -> None:
        missing = sorted(set(weights) - set(names))
        extra = sorted(set(names) - set(weights))
        if missing or extra:
            what = (f"has no parameter {missing[0]}" if missing else f"has a parameter {extra[0]} that GPT-2 lacks")
            raise LearnerCodeError(f"your GPT2LMHeadModel {what}: the checkpoint's weights can't load into it "
                                   "(parameter names are fixed by the step contracts)")
        for name, shape in names.items():
            if shape != weights[name].shape:
                raise LearnerCodeError(f"your {name} has shape {list(shape)}, the checkpoint's is "
                                       f"{list(weights[name].shape)}")

    def __call__(self, input_ids):
        try:
            return self._run(input_ids)
        except Exception as exc:
            raise describe(exc, self._exercises, "running your GPT2LMHeadModel") from None


class StreamingModel:
    """What the learner's generate_tokens calls: their model, reporting each new token as it arrives.

    Call n+1 receives the prompt plus n chosen tokens, so the n-th is reported then (its time is the
    time it became known). top_p, which step 12 doesn't have, is applied here to the last position's
    logits (tokens outside the nucleus get -inf) before their code samples from them.
    """

    def __init__(self, model: LearnerModel, prompt_len: int, on_token: Callable[[int], None],
                 top_p: float | None = None, temperature: float = 1.0):
        self._model = model
        self._prompt_len = prompt_len
        self._on_token = on_token
        self._top_p = top_p
        self._temperature = temperature
        self.seen = 0  # generated tokens reported so far

    def __call__(self, input_ids):
        ids = np.asarray(input_ids.to_numpy()).reshape(-1)
        self.report(ids)
        logits = self._model(input_ids)
        if self._top_p is not None and self._top_p < 1.0:
            logits = self._nucleus(logits)
        return logits

    def report(self, ids: np.ndarray) -> None:
        """Reports the tokens of `ids` (prompt + generated so far) not reported yet."""
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

    stream = StreamingModel(model, len(prompt_ids), on_token, top_p=None if greedy else top_p,
                            temperature=temperature)
    ids = Tensor.from_dlpack(np.asarray([prompt_ids], dtype=np.int64)).to(device)
    try:
        out = modules["step_12"].generate_tokens(
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
