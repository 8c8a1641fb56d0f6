"""`gpt2tutor serve`: a finished GPT-2 behind MAX's own OpenAI-compatible server, `max serve`."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from .. import api
from .common import PROG, WorkspaceOption, console
from .generate import DEVICE_HELP, DeviceChoice
from .render import Renderer


def serve(
    reference: Annotated[bool, typer.Option("--reference", help="Serve the reference solutions' pipeline, "
                                                                "available at any time.")] = False,
    model: Annotated[str, typer.Option("--model", metavar="ID_OR_DIR",
                                       help="A HuggingFace model id (gpt2, distilgpt2, ...) or a local folder "
                                            "with config.json, model.safetensors and the tokenizer files; "
                                            "clients send its name as the model id.")] = "gpt2",
    host: Annotated[str, typer.Option("--host", metavar="ADDR", help="The address to listen on. Anything but loopback makes "
                                                     "the model reachable from the network.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="The HTTP port.")] = 8000,
    max_batch_size: Annotated[int, typer.Option("--max-batch-size", min=1, metavar="N",
                                                help="How many requests MAX runs together in one step.")] = 4,
    device: Annotated[DeviceChoice, typer.Option("--device", help=DEVICE_HELP)] = DeviceChoice.auto,
    eject: Annotated[Path | None, typer.Option("--eject", metavar="DIR", show_default=False,
                                                  help="Write the architecture package MAX runs into DIR as "
                                                       "plain files, print the `max serve` command that uses "
                                                       "it, and exit.")] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Serve GPT-2 with `max serve`: OpenAI-style /v1/completions on http://127.0.0.1:8000.

    Your own model once the steps up to generation pass (the same rule as `generate`; batched once the
    batched model passes too), or the reference solutions' with
    --reference. Ctrl-C stops the server and every process it started. `gpt2tutor show serve` explains how
    it works; GPT2TUTOR_SERVE_BATCHED=0 answers request by request even when batched, to compare.
    """
    if eject is not None:
        files, command = api.eject(eject, reference=reference)
        out = console()
        out.print(f"Wrote {', '.join(files)} to {eject.expanduser()}. Serve it with:", soft_wrap=True)
        out.print(f"  {command}", soft_wrap=True, highlight=False, markup=False)
        out.print(f"`{PROG} show serve` explains each file.", soft_wrap=True, markup=False)
        return
    err = console(stderr=True)
    serving = None
    try:
        serving = api.serve(reference=reference, workspace=workspace, model=model, host=host, port=port,
                            max_batch_size=max_batch_size, device=device.value, on_event=Renderer(err))
        ready_s = _wait_until_ready(serving, reference)
        _print_ready(serving, ready_s)
        serving.wait()  # until Ctrl-C, or until MAX stops by itself
    finally:
        if serving is not None:
            serving.stop()
            err.print("Server stopped.", style="dim")


def _wait_until_ready(serving: api.Serving, reference: bool) -> float:
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    who = "the reference GPT-2" if reference else "your GPT-2"
    label = f"Starting max serve with {who} (the first compile takes minutes; then MAX's cache makes it seconds)"
    err = console(stderr=True)
    if not err.is_terminal:
        err.print(label)
        return serving.wait_ready()
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=err,
                  transient=True) as progress:
        task = progress.add_task(label, total=None)
        return serving.wait_ready(lambda line: progress.update(task, description=f"{label}\n  [dim]{escape(line[-120:])}[/]"))


def _print_ready(serving: api.Serving, ready_s: float) -> None:
    settings = serving.settings
    url = settings.url
    body = f'{{"model": "{settings.name}", "prompt": "Once upon a time", "max_tokens": 30, "temperature": 0}}'
    out = console()
    out.print(f"[green]Serving {escape(settings.name)} at {url}/v1[/] (ready in {ready_s:.0f} s) · "
              "Ctrl-C stops it", soft_wrap=True)
    out.print("\nTry it with curl:", soft_wrap=True)
    out.print(escape(f"  curl {url}/v1/completions -H 'Content-Type: application/json' -d {shlex.quote(body)}"),
              soft_wrap=True, highlight=False)
    out.print("\nor with the openai package (pip install openai):", soft_wrap=True)
    out.print(escape(
        "  from openai import OpenAI\n"
        f"  client = OpenAI(base_url=\"{url}/v1\", api_key=\"unused\")\n"
        f"  print(client.completions.create(model=\"{settings.name}\", prompt=\"Once upon a time\", "
        "max_tokens=30, temperature=0).choices[0].text)"), soft_wrap=True, highlight=False)
    out.print(f"\n[dim]MAX's log: {escape(str(serving.log_path))}[/]", soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
