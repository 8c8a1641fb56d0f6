"""`gpt2tutor generate "prompt"`: the learner's GPT-2 (or, with --reference, the tutor's) writing text.

Heavy imports (MAX, transformers, huggingface_hub) happen inside the command, so `--help` stays fast.
"""

from __future__ import annotations

import importlib
import json
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from ..curriculum import STEPS, get_step
from .common import PROG, CliError, WorkspaceOption, console, open_workspace
from .session import load_state

if TYPE_CHECKING:  # numpy: imported when generating, not for `--help`
    from ..generation.sampling import SamplingSettings

DEFAULT_MAX_NEW_TOKENS = 50


class DeviceChoice(str, Enum):
    cpu = "cpu"
    gpu = "gpu"


def generate(
    prompt: Annotated[str, typer.Argument(help="The text the model continues.")],
    reference: Annotated[bool, typer.Option("--reference", help="Run the tutor's own model (KV-cached), "
                                                                "available at any time.")] = False,
    model: Annotated[str, typer.Option("--model", metavar="ID_OR_DIR",
                                       help="A HuggingFace model id (gpt2, distilgpt2, gpt2-medium, ...) or a "
                                            "local folder with config.json, model.safetensors and the "
                                            "tokenizer files.")] = "gpt2",
    max_new_tokens: Annotated[int, typer.Option("--max-new-tokens", "-n", metavar="N",
                                                help="How many tokens to generate.")] = DEFAULT_MAX_NEW_TOKENS,
    temperature: Annotated[float, typer.Option("--temperature", "-t", metavar="T",
                                               help="Divides the logits: < 1 is more predictable, > 1 more "
                                                    "random.")] = 1.0,
    top_k: Annotated[Optional[int], typer.Option("--top-k", metavar="K", show_default=False,
                                                 help="Sample only among the K most likely tokens.")] = None,
    top_p: Annotated[Optional[float], typer.Option("--top-p", metavar="P", show_default=False,
                                                   help="Sample only among the most likely tokens whose "
                                                        "probabilities add up to P, in (0, 1].")] = None,
    seed: Annotated[Optional[int], typer.Option("--seed", metavar="S", show_default=False,
                                                help="Random seed: the same seed gives the same text.")] = None,
    greedy: Annotated[bool, typer.Option("--greedy", help="Always take the most likely token "
                                                          "(no sampling).")] = False,
    device: Annotated[DeviceChoice, typer.Option("--device", help="Where the model runs.")] = DeviceChoice.cpu,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object (prompt, token ids, text, "
                                                         "timings) instead of streaming.")] = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Generate text with your GPT-2 (unlocked when every step passes) or, with --reference, the tutor's.

    Your pipeline runs end to end: your weight conversion and compile (step 12), your KV cache (step 13)
    and your sampling loop (step 14).

    The weights are GPT-2's own, from HuggingFace (downloaded once into its cache) or a local folder.
    Only safetensors files are loaded.
    """
    _validate(prompt, max_new_tokens, temperature, top_k, top_p, greedy)
    ws = None
    if not reference:
        ws = open_workspace(workspace)
        require_all_passed(ws, load_state(ws), "generate")

    from ..maxenv import interrupts_deferred, tune_process

    tune_process()
    with interrupts_deferred():
        importlib.import_module("max.driver")  # MAX's native modules, loaded where Ctrl-C can't abort them

        from ..generation.checkpoint import CheckpointError, resolve
        from ..generation.loop import DeviceUnavailable, pick_device
        from ..generation.sampling import SamplingSettings
        from ..generation.tokenizer import StreamDecoder, Tokenizer

    try:
        target = pick_device(device.value)
        checkpoint = resolve(model)
        tokenizer = Tokenizer(checkpoint.folder, checkpoint.name)
    except (CheckpointError, DeviceUnavailable) as exc:
        raise CliError(str(exc)) from None
    config = checkpoint.config
    prompt_ids = tokenizer.encode(prompt)
    if not prompt_ids:
        raise CliError("the prompt has no tokens: give some text to continue")
    if len(prompt_ids) + max_new_tokens > config.n_positions:
        raise CliError(f"the prompt is {len(prompt_ids)} tokens and --max-new-tokens is {max_new_tokens}: "
                       f"together more than the model's {config.n_positions} positions; shorten one of them")
    if max(prompt_ids) >= config.vocab_size:
        raise CliError(f"the tokenizer gave id {max(prompt_ids)}, beyond the model's vocabulary of "
                       f"{config.vocab_size}: the tokenizer files don't belong to this checkpoint")

    out = sys.stdout
    decoder = StreamDecoder(tokenizer)

    def on_token(token: int) -> None:
        if not as_json:
            out.write(_printable(decoder.push(token)))
            out.flush()

    settings_text = f"{checkpoint.name} on {device.value}"
    t0 = time.perf_counter()
    with _busy("Loading the weights"):
        try:
            # the learner converts HF's layout themselves (step 12); the reference takes the tutor's conversion
            weights = checkpoint.state_dict() if reference else checkpoint.hf_state_dict()
        except CheckpointError as exc:
            raise CliError(str(exc)) from None
    load_s = time.perf_counter() - t0

    settings = SamplingSettings(greedy=greedy, temperature=temperature, top_k=top_k, top_p=top_p, seed=seed)
    run = _Run(prompt, prompt_ids, max_new_tokens, settings, on_token, echo_prompt=not as_json)
    if reference:
        new_ids, timings, compile_s = _run_reference(config, weights, target, run)
        who = "the tutor's reference model, KV cache"
    else:
        new_ids, timings, compile_s = _run_learner(ws, config, weights, target, run)
        who = "your model, compiled, with your KV cache"

    text = tokenizer.decode(new_ids)
    if as_json:
        json.dump({
            "prompt": prompt,
            "prompt_ids": prompt_ids,
            "generated_ids": new_ids,
            "text": text,
            "model": checkpoint.name,
            "implementation": "reference" if reference else "learner",
            "device": device.value,
            "settings": {"max_new_tokens": max_new_tokens, "greedy": greedy, "temperature": temperature,
                         "top_k": top_k, "top_p": top_p, "seed": seed},
            "timings": {"load_s": round(load_s, 4), "compile_s": round(compile_s, 4),
                        "time_to_first_token_s": _round(timings.time_to_first_token_s),
                        "tokens_per_s": _round(timings.tokens_per_s), "total_s": round(timings.total_s, 4)},
        }, out, ensure_ascii=False)
        out.write("\n")
        return
    out.write(_printable(decoder.flush()))
    out.write("\n")
    ttft = timings.time_to_first_token_s or 0.0
    from rich.text import Text

    console().print(Text(f"{len(new_ids)} tokens · {timings.tokens_per_s:.1f} tokens/s · first token after "
                         f"{ttft:.2f} s · {who} · {settings_text} · compiled in {compile_s:.1f} s", style="dim"),
                    soft_wrap=True)


_CONTROLS = {c: "\ufffd" for c in range(32) if chr(c) not in "\n\t"} | {127: "\ufffd"}


def _printable(text: str) -> str:
    """Control characters a random or odd model may emit (carriage returns, escapes) shown as \ufffd."""
    return text.translate(_CONTROLS)


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 4)


def _validate(prompt: str, max_new_tokens: int, temperature: float, top_k: int | None, top_p: float | None,
              greedy: bool) -> None:
    if not prompt.strip():
        raise CliError("the prompt is empty: give some text to continue, e.g. gpt2tutor generate \"Once upon a time\"")
    if max_new_tokens <= 0:
        raise CliError(f"--max-new-tokens must be a positive number of tokens, not {max_new_tokens}")
    if not greedy and not temperature > 0:
        raise CliError(f"--temperature must be > 0 when sampling (got {temperature}); use --greedy for the "
                       "single most likely token")
    if top_k is not None and top_k < 1:
        raise CliError(f"--top-k must be at least 1, not {top_k}")
    if top_p is not None and not 0 < top_p <= 1:
        raise CliError(f"--top-p must be in (0, 1], not {top_p}")


def require_all_passed(ws, state, command: str) -> None:
    """The rule for the commands that run the learner's own model (generate, serve): every step passes."""
    left = []
    for step in STEPS:
        status = state.status(step, ws)
        if status == "changed":
            left.append(f"{step.id} (changed since it passed)")
        elif status != "passed":
            left.append(step.id)
    if left:
        raise CliError(f"{command} runs your own model, so it unlocks when steps 01-{STEPS[-1].id} all pass; "
                       f"still to pass: {', '.join(left)} (`{PROG} check`), or use --reference to run the "
                       "tutor's model now")


@contextmanager
def _busy(label: str):
    """A spinner with the elapsed time on stderr while something slow runs (nothing off a terminal)."""
    err = console(stderr=True)
    if not err.is_terminal:
        yield
        return
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=err,
                  transient=True) as progress:
        progress.add_task(label, total=None)
        yield


COMPILE_NOTE = "the first time takes a minute or more; then MAX's cache makes it seconds"


@dataclass(frozen=True)
class _Run:
    """What to generate: the prompt (text and ids), how much, how to sample, and where tokens go."""
    prompt: str
    prompt_ids: list[int]
    max_new_tokens: int
    settings: SamplingSettings
    on_token: Callable[[int], None]
    echo_prompt: bool  # write the prompt before the first token (streaming, not --json)

    def start_stream(self) -> None:
        if self.echo_prompt:
            sys.stdout.write(self.prompt)
            sys.stdout.flush()


def _run_reference(config, weights, target, run: _Run):
    from ..generation.kv_model import CompiledGPT2
    from ..generation.loop import generate_cached

    t0 = time.perf_counter()
    with _busy(f"Compiling the reference GPT-2 ({COMPILE_NOTE})"):
        model = CompiledGPT2(config, weights, target)
    compile_s = time.perf_counter() - t0
    del weights
    run.start_stream()
    new_ids, timings = generate_cached(model, run.prompt_ids, run.max_new_tokens, run.settings, run.on_token)
    return new_ids, timings, compile_s


def _run_learner(ws, config, weights, target, run: _Run):
    from ..generation.learner_model import (
        LearnerCodeError,
        LearnerModel,
        generate_with_learner_code,
        learner_imports,
    )
    from ..generation.loop import Timings

    try:
        with learner_imports(ws.exercises) as modules:
            t0 = time.perf_counter()
            with _busy(f"Compiling your GPT-2 with your load_cached_gpt2 ({COMPILE_NOTE})"):
                model = LearnerModel(modules, config, weights, target, ws.exercises)
            compile_s = time.perf_counter() - t0
            del weights
            run.start_stream()
            timings = Timings()

            def mark_and_show(token: int) -> None:
                timings.mark()
                run.on_token(token)

            s = run.settings
            new_ids = generate_with_learner_code(
                modules, model, run.prompt_ids, max_new_tokens=run.max_new_tokens, greedy=s.greedy,
                temperature=s.temperature, top_k=s.top_k, top_p=s.top_p, seed=s.seed, device=target,
                on_token=mark_and_show, exercises=ws.exercises)
    except LearnerCodeError as exc:
        raise CliError(str(exc), code=1) from None
    return new_ids, timings, compile_s


MAX_HEATMAP_TOKENS = 40


def attention(
    prompt: Annotated[str, typer.Argument(help="The text whose attention to draw.")],
    layer: Annotated[int, typer.Option("--layer", "-l", metavar="L", help="The block, from 0.")] = 0,
    head: Annotated[int, typer.Option("--head", metavar="H", help="The head in that block, from 0.")] = 0,
    model: Annotated[str, typer.Option("--model", metavar="ID_OR_DIR",
                                       help="A HuggingFace model id or a local folder, as for generate.")] = "gpt2",
) -> None:
    """Draw one attention head's weights for a prompt as a heatmap, tokens on both axes.

    Uses the tutor's reference modules with GPT-2's weights: what each token attends to in block L, head H.
    The first run on a machine waits for MAX's kernels (the checks' own, compiled in the background).
    """
    if not prompt.strip():
        raise CliError("the prompt is empty: give some text, e.g. gpt2tutor attention \"The cat sat on the mat\"")
    from ..maxenv import interrupts_deferred, tune_process

    tune_process()
    with interrupts_deferred():
        importlib.import_module("max.driver")  # as in generate

        from ..generation.attention_map import MODEL_STEP, attention_weights, heatmap
        from ..generation.checkpoint import CheckpointError, resolve
        from ..generation.tokenizer import Tokenizer

    try:
        checkpoint = resolve(model)
        tokenizer = Tokenizer(checkpoint.folder, checkpoint.name)
    except CheckpointError as exc:
        raise CliError(str(exc)) from None
    config = checkpoint.config
    if not 0 <= layer < config.n_layer:
        raise CliError(f"--layer must be from 0 to {config.n_layer - 1} ({checkpoint.name} has {config.n_layer} "
                       f"blocks), not {layer}")
    if not 0 <= head < config.n_head:
        raise CliError(f"--head must be from 0 to {config.n_head - 1} ({checkpoint.name} has {config.n_head} "
                       f"heads a block), not {head}")
    ids = tokenizer.encode(prompt)
    if not ids:
        raise CliError("the prompt has no tokens: give some text")
    if len(ids) > min(MAX_HEATMAP_TOKENS, config.n_positions):
        raise CliError(f"the prompt is {len(ids)} tokens; the heatmap draws at most "
                       f"{min(MAX_HEATMAP_TOKENS, config.n_positions)}: shorten it")
    from rich.text import Text

    from . import warmup

    err = console(stderr=True)
    warmup.ensure_warm(err, [get_step(MODEL_STEP)], label="the attention map")
    activity = warmup.CheckActivity("Running the model", time_limit=False)
    with err.status(activity) if err.is_terminal else nullcontext():
        try:
            weights = checkpoint.state_dict()
        except CheckpointError as exc:
            raise CliError(str(exc)) from None
        probs = attention_weights(config, weights, ids, layer, on_progress=activity)[head]  # [seq, seq]
    if activity.summary():
        err.print(Text(activity.summary(), style="dim"), soft_wrap=True)
    tokens = [tokenizer.decode([t]) for t in ids]
    console().print(heatmap(probs, tokens, f"{checkpoint.name} · block {layer} · head {head}"))


def register(app: typer.Typer) -> None:
    app.command("generate")(generate)
    app.command("attention")(attention)
