"""What the serving tests and benchmark share: a small checkpoint, HF's greedy text, running `gpt2tutor serve`.

The checkpoint's tokenizer is a byte-level BPE trained on ASCII text with no byte alphabet added,
so every token is whole ASCII characters: any token sequence decodes to the same text whether it
arrives at once or streamed, token by token.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import processes

from gpt2tutor.serving.launch import port_in_use

STORY = ("Once upon a time there was a small model that learned to write. It read the same short story "
         "again and again, and every time it guessed the next word a little better. The end. ")


SIZES = dict(n_positions=96, n_embd=48, n_layer=2, n_head=4)  # the checkpoint's, all but the vocabulary's


def _tokenizer(*, byte_alphabet: bool = False):
    """A byte-level BPE trained on STORY; without the byte alphabet (the checkpoint's) every token is whole ASCII
    characters, with it any text encodes and a character of several bytes may split across tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300 if byte_alphabet else 200, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet() if byte_alphabet else [])
    bpe.train_from_iterator([STORY * 20], trainer)
    return bpe


def save_tokenizer(folder: Path, *, byte_alphabet: bool = False):
    """The tokenizer saved in `folder` as a GPT2TokenizerFast; returns the trained BPE."""
    import transformers

    bpe = _tokenizer(byte_alphabet=byte_alphabet)
    transformers.GPT2TokenizerFast(tokenizer_object=bpe, bos_token="<|endoftext|>", eos_token="<|endoftext|>",
                                   unk_token="<|endoftext|>").save_pretrained(folder)
    return bpe


def checkpoint_sizes() -> dict:
    """The GPT-2 sizes save_checkpoint writes, as a GPT2Config takes them. The tests that compile the reference's
    cached model (generate, serve, the comparison with HF) all use them: the suite compiles it once, and MAX's
    disk cache serves the others."""
    return dict(vocab_size=_tokenizer().get_vocab_size(), **SIZES, n_inner=4 * SIZES["n_embd"])


def save_checkpoint(folder: Path, *, seed: int = 1234) -> Path:
    import torch
    import transformers

    folder.mkdir(parents=True, exist_ok=True)
    bpe = save_tokenizer(folder)
    # random weights at a large initializer_range: peaked logits, so float32 rounding can't flip an argmax
    config = transformers.GPT2Config(vocab_size=bpe.get_vocab_size(), **SIZES, initializer_range=0.3,
                                     bos_token_id=0, eos_token_id=0, pad_token_id=0)
    torch.manual_seed(seed)
    transformers.GPT2LMHeadModel(config).eval().save_pretrained(folder, safe_serialization=True)
    return folder


def hf_greedy_text(folder: Path, prompt: str, max_tokens: int) -> str:
    """HF transformers' greedy continuation (stopping at end-of-text, as MAX does), as text."""
    import torch
    import transformers

    tok = transformers.AutoTokenizer.from_pretrained(folder)
    model = transformers.GPT2LMHeadModel.from_pretrained(folder).eval()
    ids = torch.tensor([tok.encode(prompt)])
    with torch.no_grad():
        out = model.generate(ids, max_new_tokens=max_tokens, do_sample=False, pad_token_id=0)
    return tok.decode(out[0, ids.shape[1]:], skip_special_tokens=True)


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Nothing listens there: connecting fails, and a new server could bind it."""
    with socket.socket() as probe:
        probe.settimeout(2)
        if probe.connect_ex((host, port)) == 0:
            return False
    return not port_in_use(host, port)


def listening_addresses(pids: set[int]) -> set[tuple[str, int]]:
    """(address, port) of every TCP socket in LISTEN that one of `pids` holds."""
    inodes = set()
    for pid in pids:
        try:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                try:
                    target = os.readlink(fd)
                except OSError:
                    continue
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        except OSError:
            continue
    found = set()
    for table, width in (("/proc/net/tcp", 4), ("/proc/net/tcp6", 16)):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state != "0A" or inode not in inodes:  # 0A: LISTEN
                continue
            hex_addr, hex_port = local.split(":")
            raw = bytes.fromhex(hex_addr)
            if width == 4:
                addr = socket.inet_ntop(socket.AF_INET, raw[::-1])
            else:
                addr = socket.inet_ntop(socket.AF_INET6, b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4)))
            found.add((addr, int(hex_port, 16)))
    return found


class ServeProcess:
    """`gpt2tutor serve ...` as a learner runs it in a terminal: its own process group, Ctrl-C = SIGINT to it.

    Started as tests/processes.py starts the tutor: SIGINT back at its default whatever the runner inherited,
    and every process below it (max serve runs in a session of its own) carrying the same mark.
    """

    def __init__(self, args: list[str], port: int, env: dict | None = None, log: Path | None = None):
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log = log
        out = open(log, "wb") if log else subprocess.DEVNULL
        full_env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200", **(env or {}), processes.MARK: uuid.uuid4().hex}
        self.proc = subprocess.Popen([sys.executable, "-c", processes.LAUNCH, "serve", *args, "--port", str(port)],
                                     stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                     process_group=0, env=full_env)
        self.proc.mark = full_env[processes.MARK]  # type: ignore[attr-defined]

    def live_processes(self) -> list[int]:
        """The CLI and every live process it started."""
        return processes.marked(self.proc.mark)  # type: ignore[attr-defined]

    def wait_ready(self, timeout: float) -> float:
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gpt2tutor serve exited with {self.proc.returncode}: {self.tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/v1/models", timeout=2) as r:
                    if r.status == 200:
                        return time.monotonic() - t0
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.5)
        raise TimeoutError(f"not ready after {timeout:.0f} s: {self.tail()}")

    def tail(self) -> str:
        if not self.log or not self.log.exists():
            return ""
        return " | ".join(self.log.read_text(errors="replace").splitlines()[-5:])

    def ctrl_c(self, timeout: float = 60) -> int | None:
        processes.interrupt(self.proc)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def left_behind(self) -> list[int]:
        """After the CLI exited: the processes it started still running a few seconds on."""
        return processes.left_behind(self.proc)

    def kill_everything(self) -> None:
        """The safety net: SIGKILL to the CLI's group and to every process it started."""
        processes.kill_everything(self.proc)


def post(url: str, body: bytes | dict, timeout: float = 60) -> tuple[int, dict | str]:
    """POST raw bytes (or a dict as JSON); (status, parsed JSON or text), 4xx/5xx included."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status, text = r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        status, text = exc.code, exc.read().decode(errors="replace")
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text
