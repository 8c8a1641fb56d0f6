"""`gpt2tutor serve`: a finished GPT-2 behind MAX's own OpenAI-compatible server, `max serve`.

The CLI resolves the checkpoint, checks the course and the port, then runs `max serve` with the
architecture package in gpt2tutor/serving/arch and waits, visibly, until it answers.
"""

from __future__ import annotations

import shlex
import signal
import tempfile
from pathlib import Path
from typing import Annotated, Optional

import typer

from .common import PROG, CliError, WorkspaceOption, console, open_workspace
from .generate import DeviceChoice, require_all_passed
from .session import load_state

READY_TIMEOUT_S = 1800.0  # a cold compile of 124M on a busy laptop takes minutes, not half an hour
EJECT_FILES = ("__init__.py", "config.py", "model.py")


def serve(
    reference: Annotated[bool, typer.Option("--reference", help="Serve the tutor's own model (KV-cached), "
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
    device: Annotated[DeviceChoice, typer.Option("--device", help="Where the model runs.")] = DeviceChoice.cpu,
    eject: Annotated[Optional[Path], typer.Option("--eject", metavar="DIR", show_default=False,
                                                  help="Write the architecture package MAX runs into DIR as "
                                                       "plain files, print the `max serve` command that uses "
                                                       "it, and exit.")] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Serve GPT-2 with `max serve`: OpenAI-style /v1/completions on http://127.0.0.1:8000.

    Your own model once every step passes (the same rule as `generate`), or the tutor's with --reference.
    Ctrl-C stops the server and every process it started. `gpt2tutor show serve` explains how it works.
    """
    from ..serving.launch import INSTALL_COMMAND, is_loopback, missing_serving_modules, port_in_use

    if eject is not None:
        _eject(eject, reference)
        return
    missing = missing_serving_modules()
    if missing:
        raise CliError(f"serving needs MAX's server, which is not installed ({', '.join(missing)} missing): "
                       f"run {INSTALL_COMMAND}")
    ws = None
    if not reference:
        ws = open_workspace(workspace)
        require_all_passed(ws, load_state(ws), "serve")
    err = console(stderr=True)
    if not is_loopback(host):
        err.print(f"[yellow]Warning: listening on {host}: anyone who can reach this machine on port {port} can "
                  "use the model. Use --host 127.0.0.1 to keep it to this computer.[/]", soft_wrap=True)
    if port_in_use(host, port):
        raise CliError(f"port {port} on {host} is already in use (another server?): stop it, or pick another "
                       f"with --port")

    from .. import quiet
    from ..generation.checkpoint import CheckpointError, resolve
    from ..maxenv import interrupts_deferred
    from ..serving.launch import Server, ServeSettings

    try:
        checkpoint = resolve(model)  # a download happens here, with HF's progress bars, never inside MAX
    except CheckpointError as exc:
        raise CliError(str(exc)) from None
    name = Path(model).name if Path(model).expanduser().is_dir() else model
    settings = ServeSettings(folder=checkpoint.folder, name=name, host=host, port=port,
                             kind="reference" if reference else "learner",
                             exercises=ws.exercises.resolve() if ws else None,
                             device=device.value, max_batch_size=max_batch_size)
    log_path = Path(tempfile.gettempdir()) / f"{PROG}-serve-{port}.log"
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # `kill` stops the server as Ctrl-C does
    quiet.foreign_notices_off()  # inherited by MAX's processes: its log, shown while it starts, says what matters
    server = None
    try:
        with interrupts_deferred():  # a Ctrl-C now waits until `server` holds the process, so stop() reaches it
            try:
                server = Server(settings, log_path)
            except OSError as exc:
                raise CliError(f"can't start max serve: {exc.strerror or exc}") from None
        ready_s = _wait_until_ready(server, reference)
        _print_ready(settings, ready_s, log_path)
        server.process.wait()  # until Ctrl-C, or until MAX stops by itself
        raise CliError(f"max serve stopped by itself ({server.last_log_line()}); its log: {log_path}", code=1)
    finally:
        if server is not None:
            server.stop()
            err.print("Server stopped.", style="dim")


def _wait_until_ready(server, reference: bool) -> float:
    from rich.markup import escape
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from ..serving.launch import ServerFailed

    who = "the reference GPT-2" if reference else "your GPT-2"
    label = f"Starting max serve with {who} (the first compile takes minutes; then MAX's cache makes it seconds)"
    err = console(stderr=True)
    try:
        if not err.is_terminal:
            err.print(label)
            return server.wait_ready(READY_TIMEOUT_S)
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=err,
                      transient=True) as progress:
            task = progress.add_task(label, total=None)

            def show(s) -> None:
                line = s.last_log_line()
                progress.update(task, description=f"{label}\n  [dim]{escape(line[-120:])}[/]")

            return server.wait_ready(READY_TIMEOUT_S, show)
    except (ServerFailed, TimeoutError) as exc:
        raise CliError(f"max serve failed to start: {exc} (its log: {server.log_path})", code=1) from None


def _print_ready(settings, ready_s: float, log_path: Path) -> None:
    from rich.markup import escape

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
    out.print(f"\n[dim]MAX's log: {escape(str(log_path))}[/]", soft_wrap=True)


def _eject(folder: Path, reference: bool) -> None:
    from importlib import resources

    from ..files import write_atomic
    from ..serving.models import ENV_EXERCISES, ENV_MODEL

    folder = folder.expanduser()
    if not folder.name.isidentifier():
        raise CliError(f"--eject {folder}: MAX imports the folder as a Python package, so its name must be a "
                       "Python identifier (letters, digits, underscores), e.g. --eject ./my_gpt2")
    clashes = [f for f in EJECT_FILES if (folder / f).exists()]
    if clashes:
        raise CliError(f"{folder} already holds {clashes[0]}: eject into a new folder, so no file of yours is "
                       "overwritten")
    try:
        source = resources.files("gpt2tutor.serving") / "arch"  # as files: importing the package would load MAX
        for name in EJECT_FILES:
            write_atomic(folder / name, source.joinpath(name).read_text(encoding="utf-8"))
    except OSError as exc:
        raise CliError(f"can't write into {folder}: {exc.strerror or exc}") from None
    kind = "reference" if reference else "learner"
    env = f"{ENV_MODEL}={kind}" + ("" if reference else f" {ENV_EXERCISES}=<your exercises folder>")
    out = console()
    out.print(f"Wrote {', '.join(EJECT_FILES)} to {folder}. Serve it with:", soft_wrap=True)
    out.print(f"  {env} MAX_SERVE_DISABLE_TELEMETRY=1 max serve --custom-architectures {folder.resolve()} "
              "--model <checkpoint folder> --devices cpu --host 127.0.0.1 --port 8000 --max-batch-size 4",
              soft_wrap=True, highlight=False, markup=False)
    out.print(f"`{PROG} show serve` explains each file.", soft_wrap=True, markup=False)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
