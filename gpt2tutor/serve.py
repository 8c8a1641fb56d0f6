"""`serve` and `eject`: the course's pipeline behind `max serve` (MAX's OpenAI-compatible server), and its
architecture package written out as plain files. The server itself is in gpt2tutor.serving."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from .device import resolve_device
from .errors import TutorError
from .events import Notice, OnEvent, ignore
from .generating import graph_size_names
from .names import PROG, SERVE_BATCHED_ENV
from .opening import open
from .tutor import Tutor

READY_TIMEOUT_S = 1800.0  # a cold compile of 124M on a busy laptop takes minutes, not half an hour
EJECT_FILES = ("__init__.py", "config.py", "model.py")


class Serving:
    """One `max serve` run of the course's pipeline (the learner's files, or the reference solutions'),
    on `host:port`. `wait_ready()` until it answers; `stop()` ends every process it started."""

    def __init__(self, settings, server):
        self.settings = settings
        self.server = server

    @property
    def url(self) -> str:
        return self.settings.url

    @property
    def log_path(self) -> Path:
        return self.server.log_path

    def wait_ready(self, on_wait: Callable[[str], None] = lambda last_log_line: None,
                   timeout_s: float = READY_TIMEOUT_S) -> float:
        """Seconds until the server answers; `on_wait` gets MAX's last log line meanwhile."""
        from .serving.launch import ServerFailed

        try:
            return self.server.wait_ready(timeout_s, lambda s: on_wait(s.last_log_line()))
        except (ServerFailed, TimeoutError) as exc:
            raise TutorError(f"max serve failed to start: {exc} (its log: {self.server.log_path})", code=1) from None

    def wait(self) -> None:
        """Until the server stops: by itself (a TutorError), or Ctrl-C (KeyboardInterrupt)."""
        self.server.process.wait()
        raise TutorError(f"max serve stopped by itself ({self.server.last_log_line()}); its log: "
                         f"{self.server.log_path}", code=1)

    def stop(self) -> None:
        self.server.stop()


def serve(*, reference: bool = False, tutor: Tutor | None = None, workspace: Path | str | None = None,
          model: str = "gpt2", host: str = "127.0.0.1",
          port: int = 8000, max_batch_size: int = 4, device: str = "auto", on_event: OnEvent = ignore) -> Serving:
    """Starts `max serve` (MAX's OpenAI-compatible server) with the course's pipeline: the learner's files
    (`tutor`, or the workspace at `workspace`; the steps up to generation must pass) or, with `reference`, the reference
    solutions. Binds `host`
    (loopback by default: anything else gets a warning Notice). Returns once the process started."""
    import signal
    import tempfile

    from . import quiet
    from .serving.launch import (
        INSTALL_COMMAND,
        Server,
        ServeSettings,
        is_loopback,
        missing_serving_modules,
        port_in_use,
    )

    missing = missing_serving_modules()
    if missing:
        raise TutorError(f"serving needs MAX's server, which is not installed ({', '.join(missing)} missing): "
                         f"run {INSTALL_COMMAND}")
    if not reference:
        tutor = tutor or open(workspace)
        tutor.require_generation("serve")
    if not is_loopback(host):
        on_event(Notice(f"Warning: listening on {host}: anyone who can reach this machine on port {port} can use the "
                        "model. Use --host 127.0.0.1 to keep it to this computer.", "warning"))
    if port_in_use(host, port):
        raise TutorError(f"port {port} on {host} is already in use (another server?): stop it, or pick another "
                         f"with --port")
    from .generation.checkpoint import CheckpointError, resolve
    from .maxenv import interrupts_deferred

    try:
        checkpoint = resolve(model)  # a download happens here, with HF's progress bars, never inside MAX
    except CheckpointError as exc:
        raise TutorError(str(exc)) from None
    device = resolve_device(device)
    batched = os.environ.get(SERVE_BATCHED_ENV) != "0" and (reference or batched_model_passed(tutor))
    if tutor is not None and not batched:  # the server compiles their cached model: the background's compile serves
        config = checkpoint.config
        tutor.wait_for_graph({k: getattr(config, k) for k in graph_size_names()}, on_event, device)
    name = Path(model).name if Path(model).expanduser().is_dir() else model
    settings = ServeSettings(folder=checkpoint.folder, name=name, host=host, port=port,
                             kind="reference" if reference else "learner",
                             exercises=tutor.exercises.resolve() if tutor is not None else None,
                             device=device, max_batch_size=max_batch_size, batched=batched)
    log_path = Path(tempfile.gettempdir()) / f"{PROG}-serve-{port}.log"
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # `kill` stops the server as Ctrl-C does
    quiet.foreign_notices_off()  # inherited by MAX's processes: its log, shown while it starts, says what matters
    with interrupts_deferred():  # a Ctrl-C now waits until the server exists, so stop() reaches it
        try:
            server = Server(settings, log_path)
        except OSError as exc:
            raise TutorError(f"can't start max serve: {exc.strerror or exc}") from None
    return Serving(settings, server)


def batched_model_passed(tutor: Tutor) -> bool:
    """Whether the learner's batched model (step 15) passed and is unchanged since: `serve` then answers each of
    MAX's steps with one call of it; else request by request, with the cached model."""
    from .registry import by_role

    return tutor.load_and_repair_state().status(by_role("batched_model"), tutor.workspace) == "passed"


def eject(folder: Path | str, *, reference: bool = False) -> tuple[list[str], str]:
    """Writes the architecture package `max serve` runs into `folder`, as plain files (never over a file that
    exists); returns the files written and the `max serve` command line that uses them."""
    from importlib import resources

    from .files import write_atomic
    from .serving.models import ENV_EXERCISES, ENV_MODEL

    folder = Path(folder).expanduser()
    if not folder.name.isidentifier():
        raise TutorError(f"--eject {folder}: MAX imports the folder as a Python package, so its name must be a "
                         "Python identifier (letters, digits, underscores), e.g. --eject ./my_gpt2")
    clashes = [f for f in EJECT_FILES if (folder / f).exists()]
    if clashes:
        raise TutorError(f"{folder} already holds {clashes[0]}: eject into a new folder, so no file of yours is "
                         "overwritten")
    try:
        source = resources.files("gpt2tutor.serving") / "arch"  # as files: importing the package would load MAX
        for name in EJECT_FILES:
            write_atomic(folder / name, source.joinpath(name).read_text(encoding="utf-8"))
    except OSError as exc:
        raise TutorError(f"can't write into {folder}: {exc.strerror or exc}") from None
    kind = "reference" if reference else "learner"
    env = f"{ENV_MODEL}={kind}" + ("" if reference else f" {ENV_EXERCISES}=<your exercises folder>")
    command = (f"{env} MAX_SERVE_DISABLE_TELEMETRY=1 max serve --custom-architectures {folder.resolve()} "
               "--model <checkpoint folder> --devices cpu --host 127.0.0.1 --port 8000 --max-batch-size 4")
    return list(EJECT_FILES), command
