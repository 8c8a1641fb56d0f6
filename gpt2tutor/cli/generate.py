"""`gpt2tutor generate "prompt"` (the learner's GPT-2, or with --reference the reference solutions') and
`gpt2tutor attention "prompt"` (one head's weights as a heatmap).

Heavy imports (MAX, transformers, huggingface_hub) happen inside the API's calls, so `--help` stays fast.
"""

from __future__ import annotations

import json
import sys
from enum import Enum
from typing import Annotated

import typer
from rich.text import Text

from .. import api
from .common import WorkspaceOption, console
from .render import Renderer, heatmap


class DeviceChoice(str, Enum):
    auto = "auto"
    cpu = "cpu"
    gpu = "gpu"


DEVICE_HELP = "Where the model runs: auto is the GPU when MAX sees one, else the CPU."


_CONTROLS = {c: "\ufffd" for c in range(32) if chr(c) not in "\n\t"} | {127: "\ufffd"}


def _printable(text: str) -> str:
    """Control characters a random or odd model may emit (carriage returns, escapes) shown as \ufffd."""
    return text.translate(_CONTROLS)


def generate(
    prompt: Annotated[str, typer.Argument(metavar="PROMPT", help="The text the model continues.")],
    reference: Annotated[bool, typer.Option("--reference", help="Run the reference solutions' pipeline (the "
                                                                "same code path as yours), available at any "
                                                                "time.")] = False,
    model: Annotated[str, typer.Option("--model", metavar="ID_OR_DIR",
                                       help="A HuggingFace model id (gpt2, distilgpt2, gpt2-medium, ...) or a "
                                            "local folder with config.json, model.safetensors and the "
                                            "tokenizer files.")] = "gpt2",
    max_new_tokens: Annotated[int, typer.Option("--max-new-tokens", "-n", metavar="N",
                                                help="How many tokens to generate.")] = api.DEFAULT_MAX_NEW_TOKENS,
    temperature: Annotated[float, typer.Option("--temperature", "-t", metavar="T",
                                               help="Divides the logits: < 1 is more predictable, > 1 more "
                                                    "random.")] = 1.0,
    top_k: Annotated[int | None, typer.Option("--top-k", metavar="K", show_default=False,
                                                 help="Sample only among the K most likely tokens.")] = None,
    top_p: Annotated[float | None, typer.Option("--top-p", metavar="P", show_default=False,
                                                   help="Sample only among the most likely tokens whose "
                                                        "probabilities add up to P, in (0, 1].")] = None,
    seed: Annotated[int | None, typer.Option("--seed", metavar="S", show_default=False,
                                                help="Random seed: the same seed gives the same text.")] = None,
    greedy: Annotated[bool, typer.Option("--greedy", help="Always take the most likely token "
                                                          "(no sampling).")] = False,
    device: Annotated[DeviceChoice, typer.Option("--device", help=DEVICE_HELP)] = DeviceChoice.auto,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object (prompt, token ids, text, "
                                                         "timings) instead of streaming.")] = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Generate text with your GPT-2 (unlocked when the steps up to generation pass) or, with --reference, the reference
    solutions'.

    Your pipeline runs end to end: your weight conversion and compile, your KV cache and your sampling loop.
    The weights are GPT-2's own, from HuggingFace (downloaded once into its cache) or a local folder.
    Only safetensors files are loaded.
    """
    api.validate_settings(prompt, max_new_tokens, temperature, top_k, top_p, greedy)  # before the workspace
    tutor = None if reference else api.open(workspace)
    view = Renderer(console(), console(stderr=True))
    job = api.generate(prompt, reference=reference, tutor=tutor, model=model, max_new_tokens=max_new_tokens,
                       temperature=temperature, top_k=top_k, top_p=top_p, seed=seed, greedy=greedy,
                       device=device.value, on_event=view)
    out = sys.stdout
    started = False

    def on_token(token: api.Token) -> None:
        nonlocal started
        if as_json:
            return
        if not started:
            started = True
            view.close()
            out.write(prompt)
        out.write(_printable(token.text))
        out.flush()

    try:
        result = job.run(on_token)
    finally:
        view.close()
    if as_json:
        json.dump(result.to_json(), out, ensure_ascii=False)
        out.write("\n")
        return
    out.write("\n")
    t = result.timings
    who = "the reference solutions, KV cache" if reference else "your model, compiled, with your KV cache"
    console().print(Text(f"{len(result.generated_ids)} tokens · {t.tokens_per_s:.1f} tokens/s · first token after "
                         f"{t.time_to_first_token_s or 0.0:.2f} s · {who} · {result.model} on {result.device} · "
                         f"compiled in {result.compile_s:.1f} s", style="dim"), soft_wrap=True)


def attention(
    prompt: Annotated[str, typer.Argument(metavar="PROMPT", help="The text whose attention to draw.")],
    layer: Annotated[int, typer.Option("--layer", "-l", metavar="L", help="The block, from 0.")] = 0,
    head: Annotated[int, typer.Option("--head", metavar="H", help="The head in that block, from 0.")] = 0,
    model: Annotated[str, typer.Option("--model", metavar="ID_OR_DIR",
                                       help="A HuggingFace model id or a local folder, as for generate.")] = "gpt2",
) -> None:
    """Draw one attention head's weights for a prompt as a heatmap, tokens on both axes.

    Uses the tutor's reference modules with GPT-2's weights: what each token attends to in block L, head H.
    The first run on a machine waits for MAX's kernels (the checks' own, compiled in the background).
    """
    err = console(stderr=True)
    view = Renderer(err)
    with view.live("Running the model", time_limit=False, console=err):
        found = api.attention(prompt, layer=layer, head=head, model=model, on_event=view)
    console().print(heatmap(found.weights, found.tokens, found.title))


def register(app: typer.Typer) -> None:
    app.command("generate")(generate)
    app.command("attention")(attention)
