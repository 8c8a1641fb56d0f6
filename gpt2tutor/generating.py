"""Generating text with the course's pipeline, and one attention head's map: `generate` and `attention`.

The learner's files or, with `reference`, the reference solutions run the same code (generation/pipeline.py).
Nothing is compiled until a Generation runs; its tokens come as they are decided.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass

from . import graphs, kernels, waiting
from .device import resolve_device
from .errors import TutorError
from .events import OnEvent, ignore
from .opening import open
from .tutor import Tutor

DEFAULT_MAX_NEW_TOKENS = 50


@dataclass(frozen=True)
class Token:
    id: int
    text: str  # what it adds to the text (empty while it holds half a character)


@dataclass
class GenerationResult:
    prompt: str
    prompt_ids: list[int]
    generated_ids: list[int]
    text: str
    model: str
    implementation: str  # "learner" or "reference"
    device: str
    settings: dict
    load_s: float
    compile_s: float
    timings: object  # generation.pipeline.Timings

    def to_json(self) -> dict:
        t = self.timings
        return {
            "prompt": self.prompt, "prompt_ids": self.prompt_ids, "generated_ids": self.generated_ids,
            "text": self.text, "model": self.model, "implementation": self.implementation, "device": self.device,
            "settings": self.settings,
            "timings": {"load_s": round(self.load_s, 4), "compile_s": round(self.compile_s, 4),
                        "time_to_first_token_s": _round(t.time_to_first_token_s),
                        "tokens_per_s": _round(t.tokens_per_s), "total_s": round(t.total_s, 4)},
        }


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 4)


class Generation:
    """A generation ready to run: iterate over it for Tokens as they come (it runs in a thread), or call
    `run(on_token)` to run it here; `result` holds the GenerationResult afterwards."""

    def __init__(self, runner: Callable[[Callable[[int], None]], GenerationResult], tokenizer,
                 prompt_ids: list[int]):
        self._runner = runner
        self.tokenizer = tokenizer
        self.prompt_ids = prompt_ids
        self.result: GenerationResult | None = None

    def run(self, on_token: Callable[[Token], None] = lambda token: None) -> GenerationResult:
        from .generation.tokenizer import StreamDecoder

        decoder = StreamDecoder(self.tokenizer)
        self.result = self._runner(lambda token_id: on_token(Token(token_id, decoder.push(token_id))))
        tail = decoder.flush()
        if tail:
            on_token(Token(-1, tail))  # the rest of a character held back at the end
        return self.result

    def __iter__(self) -> Iterator[Token]:
        tokens: queue.Queue = queue.Queue()
        done = object()

        def work() -> None:
            try:
                self.run(tokens.put)
            except BaseException as exc:
                tokens.put(exc)
            finally:
                tokens.put(done)

        threading.Thread(target=work, daemon=True).start()
        while (item := tokens.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item




def graph_size_names() -> list[str]:
    """The names of the model's sizes the background compile is keyed on (vocab_size, n_embd, ...)."""
    return list(graphs.SIZES)


def validate_settings(prompt: str, max_new_tokens: int, temperature: float, top_k: int | None,
                      top_p: float | None, greedy: bool) -> None:
    if not prompt.strip():
        raise TutorError("the prompt is empty: give some text to continue, e.g. gpt2tutor generate \"Once upon a time\"")
    if max_new_tokens <= 0:
        raise TutorError(f"--max-new-tokens must be a positive number of tokens, not {max_new_tokens}")
    if not greedy and not temperature > 0:
        raise TutorError(f"--temperature must be > 0 when sampling (got {temperature}); use --greedy for the "
                         "single most likely token")
    if top_k is not None and top_k < 1:
        raise TutorError(f"--top-k must be at least 1, not {top_k}")
    if top_p is not None and not 0 < top_p <= 1:
        raise TutorError(f"--top-p must be in (0, 1], not {top_p}")




def _load_max() -> None:
    """MAX's native modules, loaded where a Ctrl-C can't abort them, and the process tuned for eager ops."""
    from .maxenv import load_max

    load_max("max.driver", *(f"gpt2tutor.generation.{name}" for name in ("checkpoint", "tokenizer", "pipeline")))


def generate(prompt: str, *, reference: bool = False, tutor: Tutor | None = None, model: str = "gpt2",
             max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS, temperature: float = 1.0, top_k: int | None = None,
             top_p: float | None = None, seed: int | None = None, greedy: bool = False, device: str = "auto",
             on_event: OnEvent = ignore) -> Generation:
    """A generation from the course's pipeline (generation/pipeline.py): the learner's files (`tutor`, whose
    steps up to generation must pass) or, with `reference`, the reference solutions, the same code either way. `model` is a
    HuggingFace id or a local folder (safetensors only). Nothing is compiled until the Generation runs."""
    validate_settings(prompt, max_new_tokens, temperature, top_k, top_p, greedy)
    if not reference and tutor is None:
        tutor = open()
    if not reference:
        tutor.require_generation("generate", tutor.load_and_repair_state(on_event=on_event))
    _load_max()
    from .generation.checkpoint import CheckpointError, resolve
    from .generation.pipeline import DeviceUnavailable, pick_device
    from .generation.tokenizer import Tokenizer

    device = resolve_device(device)
    try:
        target = pick_device(device)
        checkpoint = resolve(model)
        tokenizer = Tokenizer(checkpoint.folder, checkpoint.name)
    except (CheckpointError, DeviceUnavailable) as exc:
        raise TutorError(str(exc)) from None
    config = checkpoint.config
    prompt_ids = tokenizer.encode(prompt)
    if not prompt_ids:
        raise TutorError("the prompt has no tokens: give some text to continue")
    if len(prompt_ids) + max_new_tokens > config.n_positions:
        raise TutorError(f"the prompt is {len(prompt_ids)} tokens and --max-new-tokens is {max_new_tokens}: "
                         f"together more than the model's {config.n_positions} positions; shorten one of them")
    if max(prompt_ids) >= config.vocab_size:
        raise TutorError(f"the tokenizer gave id {max(prompt_ids)}, beyond the model's vocabulary of "
                         f"{config.vocab_size}: the tokenizer files don't belong to this checkpoint")
    from .generation.sampling import SamplingSettings

    settings = SamplingSettings(greedy=greedy, temperature=temperature, top_k=top_k, top_p=top_p, seed=seed)
    settings_json = {"max_new_tokens": max_new_tokens, "greedy": greedy, "temperature": temperature,
                     "top_k": top_k, "top_p": top_p, "seed": seed}

    def run(on_token: Callable[[int], None]) -> GenerationResult:
        from .events import Phase
        from .generation.pipeline import CachedModel, LearnerCodeError, Timings, learner_code, reference_code
        from .generation.pipeline import generate as run_pipeline

        t0 = time.perf_counter()
        on_event(Phase("loading the weights"))
        try:
            weights = checkpoint.hf_state_dict()
        except CheckpointError as exc:
            raise TutorError(str(exc)) from None
        load_s = time.perf_counter() - t0
        on_event(Phase("loading the weights", done=True, seconds=load_s))
        who = "the reference GPT-2" if reference else "your GPT-2 with your load_cached_gpt2"
        if not reference:
            tutor.wait_for_graph({k: getattr(config, k) for k in graph_size_names()}, on_event, device)
        waiting.wait_for_generation(on_event=on_event)  # generate_tokens' kernels, compiled in the background:
        kernels.preload_generation()  # loaded here, so that none compiles before the first token
        try:
            with (nullcontext() if reference else learner_code(tutor.exercises)) as code:
                code = code or reference_code()
                t0 = time.perf_counter()
                on_event(Phase(f"compiling {who}"))
                cached = CachedModel(code, config, weights, target)
                compile_s = time.perf_counter() - t0
                on_event(Phase(f"compiling {who}", done=True, seconds=compile_s))
                del weights
                timings = Timings()

                def mark(token: int) -> None:
                    timings.mark()
                    on_token(token)

                new_ids = run_pipeline(cached, prompt_ids, max_new_tokens, settings, target, mark)
        except LearnerCodeError as exc:
            raise TutorError(str(exc), code=1) from None
        return GenerationResult(prompt, prompt_ids, new_ids, tokenizer.decode(new_ids), checkpoint.name,
                                "reference" if reference else "learner", device, settings_json, load_s, compile_s,
                                timings)

    return Generation(run, tokenizer, prompt_ids)


# --- the attention map -----------------------------------------------------------------------------

MAX_HEATMAP_TOKENS = 40


@dataclass
class AttentionMap:
    weights: object  # numpy [seq, seq]: row i is what query i pays to keys 0..i
    tokens: list[str]
    title: str


def attention(prompt: str, *, layer: int = 0, head: int = 0, model: str = "gpt2",
              on_event: OnEvent = ignore) -> AttentionMap:
    """One attention head's weights for a prompt, from the reference model with the checkpoint's weights.
    Waits for the checks' kernels it uses (Waiting events), and reports MAX's compiles."""
    if not prompt.strip():
        raise TutorError("the prompt is empty: give some text, e.g. gpt2tutor attention \"The cat sat on the mat\"")
    from .maxenv import load_max

    load_max("max.driver", *(f"gpt2tutor.generation.{name}" for name in ("attention_map", "checkpoint", "tokenizer")))
    from .generation.attention_map import attention_weights, model_step
    from .generation.checkpoint import CheckpointError, resolve
    from .generation.tokenizer import Tokenizer

    try:
        checkpoint = resolve(model)
        tokenizer = Tokenizer(checkpoint.folder, checkpoint.name)
    except CheckpointError as exc:
        raise TutorError(str(exc)) from None
    config = checkpoint.config
    if not 0 <= layer < config.n_layer:
        raise TutorError(f"--layer must be from 0 to {config.n_layer - 1} ({checkpoint.name} has {config.n_layer} "
                         f"blocks), not {layer}")
    if not 0 <= head < config.n_head:
        raise TutorError(f"--head must be from 0 to {config.n_head - 1} ({checkpoint.name} has {config.n_head} "
                         f"heads a block), not {head}")
    ids = tokenizer.encode(prompt)
    if not ids:
        raise TutorError("the prompt has no tokens: give some text")
    if len(ids) > min(MAX_HEATMAP_TOKENS, config.n_positions):
        raise TutorError(f"the prompt is {len(ids)} tokens; the heatmap draws at most "
                         f"{min(MAX_HEATMAP_TOKENS, config.n_positions)}: shorten it")
    waiting.wait_for_kernels([model_step()], who="the attention map", on_event=on_event)
    try:
        weights = checkpoint.state_dict()
    except CheckpointError as exc:
        raise TutorError(str(exc)) from None
    probs = attention_weights(config, weights, ids, layer, on_progress=on_event)[head]  # [seq, seq]
    tokens = [tokenizer.decode([t]) for t in ids]
    return AttentionMap(probs, tokens, f"{checkpoint.name} · block {layer} · head {head}")
