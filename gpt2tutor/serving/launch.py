"""Starting `max serve` with our architecture package, waiting until it answers, and stopping it.

`max serve` is MAX's OpenAI-compatible server: an API process, a model worker and helpers it
spawns. It runs here in a session of its own, so one signal to its process group reaches every
process it started, and `stop()` confirms that none is left.

Safety defaults MAX leaves open are closed here: the API binds the host given (127.0.0.1 unless
told otherwise), the metrics endpoint gets a free port on that same host, and telemetry is off.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from .. import maxenv
from ..processes import kill_tree
from .models import ENV_BATCHED, ENV_EXERCISES, ENV_MODEL

ARCH_PACKAGE = "gpt2tutor.serving.arch"
INSTALL_COMMAND = "pip install 'max[serve]>=26.7,<26.8'"  # the serve extra's one package: works from a clone, or anywhere
# What `max serve` imports beyond MAX itself: the modules of the max[serve] extra.
SERVE_MODULES = ("uvicorn", "fastapi", "sse_starlette", "opentelemetry.sdk", "zmq", "prometheus_client")
STOP_GRACE_S = 20.0


def missing_serving_modules() -> list[str]:
    """The modules `max serve` needs that this Python can't import (empty when serving is installed)."""
    missing = []
    for name in SERVE_MODULES:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            missing.append(name.split(".")[0])
    return missing


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def port_in_use(host: str, port: int) -> bool:
    """True when something already listens on host:port (or the address can't be bound).

    SO_REUSEADDR as servers set it: connections closed a moment ago (TIME_WAIT) don't count.
    """
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class ServeSettings:
    folder: Path  # the checkpoint: config.json, model.safetensors, tokenizer files
    name: str  # the model id clients send
    host: str = "127.0.0.1"
    port: int = 8000
    kind: str = "reference"  # or "learner"
    exercises: Path | None = None  # the learner's files, for kind "learner"
    device: str = "cpu"
    max_batch_size: int = 4
    batched: bool = True  # one call of the batched model a step (step 15), else the cached model request by request
    architectures: str = ARCH_PACKAGE  # a module name, or the folder of an ejected copy

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def command(self) -> list[str]:
        return [*maxenv.max_command(), "serve",
                "--model", str(self.folder), "--served-model-name", self.name,
                "--custom-architectures", self.architectures,
                "--devices", self.device, "--host", self.host, "--port", str(self.port),
                "--max-batch-size", str(self.max_batch_size)]

    def environment(self) -> dict[str, str]:
        env = maxenv.child_environment()
        env.update({
            "MAX_SERVE_DISABLE_TELEMETRY": "1",
            "MAX_SERVE_HOST": self.host,  # the metrics endpoint, if anything enables it, binds here too
            "MAX_SERVE_METRICS_ENDPOINT_PORT": str(free_port(self.host)),
            "HF_HUB_OFFLINE": "1",  # the checkpoint is a local folder by now: nothing to fetch
            ENV_MODEL: self.kind,
            ENV_BATCHED: "1" if self.batched else "0",
        })
        if self.exercises is not None:
            env[ENV_EXERCISES] = str(self.exercises)
        return env


class ServerFailed(Exception):
    """`max serve` exited; the message is its last log line."""


class Server:
    """One `max serve` run, its output going to `log_path`."""

    def __init__(self, settings: ServeSettings, log_path: Path):
        self.settings = settings
        self.log_path = log_path
        self._log = open(log_path, "wb")
        try:
            self.process = subprocess.Popen(settings.command(), env=settings.environment(),
                                            stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        except OSError:
            self._log.close()
            raise
        self.pgid = self.process.pid  # a new session: its leader's pid is the group id

    def last_log_line(self) -> str:
        try:
            lines = [line for line in self.log_path.read_text(errors="replace").splitlines() if line.strip()]
        except OSError:
            return ""
        return lines[-1].strip() if lines else ""

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.settings.url}/v1/models", timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError, ValueError):
            return False

    def wait_ready(self, timeout_s: float, on_wait=lambda server: None) -> float:
        """Seconds until the API answers; ServerFailed if `max serve` exits first, TimeoutError after timeout_s."""
        t0 = time.monotonic()
        while not self.ready():
            if self.process.poll() is not None:
                raise ServerFailed(self.last_log_line() or f"max serve exited with code {self.process.returncode}")
            if time.monotonic() - t0 > timeout_s:
                raise TimeoutError(f"max serve did not answer within {timeout_s:.0f} s")
            on_wait(self)
            time.sleep(0.5)
        return time.monotonic() - t0

    def group_alive(self) -> bool:
        try:
            os.killpg(self.pgid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def stop(self) -> None:
        """SIGINT to every process `max serve` started (as Ctrl-C would), then SIGKILL to any left."""
        deadline = time.monotonic() + STOP_GRACE_S
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._signal(sig)
            while self.group_alive() and time.monotonic() < deadline:
                self._reap()
                time.sleep(0.2)
            if not self.group_alive():
                break
            deadline = time.monotonic() + 5
        if self.group_alive():
            self._signal(signal.SIGKILL)
        self._reap(wait=True)
        self._log.close()

    def _signal(self, sig: int) -> None:
        kill_tree(self.pgid, sig)  # its group, and any process of it that left the group

    def _reap(self, wait: bool = False) -> None:
        try:
            self.process.wait(timeout=5 if wait else 0.01)
        except subprocess.TimeoutExpired:
            pass
