"""The course on a GPU, in one command: generation against HF, every step's checks, the CLI's first token.

    python benchmarks/bench_gpu.py [--out DIR] [--new-tokens 256] [--skip generate,checks,cli,serve]

On a machine where MAX sees a GPU, in order (each part on its own time limit, its output printed and kept
under --out, so a part that fails or runs out of time leaves the others' figures):

  generate  benchmarks/bench_generate.py --device gpu: the reference solutions and a learner written
            differently (tests/variants) through `generate`'s pipeline on the GPU, greedy, against
            transformers' generate() and a bare token loop on the same GPU: compile time, time to first
            token, tokens/s, the same tokens from all, and the ratios
  checks    `gpt2tutor check --all --device gpu` in a workspace holding the reference solutions: every step's
            checks with the learner's code on the GPU, judged against references on the CPU
  cli       `gpt2tutor generate --device gpu` from that workspace (the learner's path) and with --reference,
            on a 124M-shaped random checkpoint saved the way HF saves one: time to the first token
  serve     `gpt2tutor serve --device gpu` from that workspace, until it answers /v1/completions (needs
            MAX's server packages)

Nothing here asserts on time: the figures go to docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))


def run(name: str, command: list[str], out: Path, timeout: float, env: dict | None = None,
        cwd: Path | None = None) -> tuple[int | None, float]:
    """Runs one part; its output goes to the terminal and to out/NAME.log. Returns (exit code, seconds)."""
    print(f"\n== {name}: {' '.join(command)}", flush=True)
    started = time.perf_counter()
    log = (out / f"{name}.log").open("w", encoding="utf-8")
    try:
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                env={**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"}, cwd=cwd)
        deadline = started + timeout
        assert proc.stdout is not None
        for line in proc.stdout:
            print(line, end="", flush=True)
            log.write(line)
            if time.perf_counter() > deadline:
                proc.kill()
                print(f"   ({name}: stopped after {timeout:.0f} s)", flush=True)
                break
        code = proc.wait()
    finally:
        log.close()
    seconds = time.perf_counter() - started
    print(f"== {name}: exit {code} in {seconds:.1f} s", flush=True)
    return code, seconds


def references_workspace(base: Path) -> Path:
    """A workspace made by `gpt2tutor start`, its exercises the reference solutions."""
    from gpt2tutor.registry import STEPS

    root = base / "ws"
    subprocess.run([sys.executable, "-m", "gpt2tutor", "start", str(root)], check=True, capture_output=True,
                   env={**os.environ, "GPT2TUTOR_KERNELS": "0"})
    for step in STEPS:
        (root / "exercises" / step.filename).write_text(step.solution(), encoding="utf-8")
    return root


def checkpoint(base: Path) -> Path:
    """GPT-2 124M's shapes with random weights, and a tokenizer, saved as HF saves them (tests/serving_support)."""
    from serving_support import save_checkpoint

    return save_checkpoint(base / "checkpoint")


def first_token(line: str) -> float | None:
    """The time to the first token from `generate --json`'s object."""
    try:
        return json.loads(line)["timings"]["time_to_first_token_s"]
    except (ValueError, KeyError, TypeError):
        return None


def serve_until_ready(folder: Path, workspace: Path, out: Path, timeout: float) -> None:
    port = 8765
    print(f"\n== serve: gpt2tutor serve --device gpu --port {port}", flush=True)
    log = (out / "serve.log").open("w", encoding="utf-8")
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "gpt2tutor", "serve", "--device", "gpu", "--port", str(port),
                             "--model", str(folder), "--workspace", str(workspace)], stdout=log,
                            stderr=subprocess.STDOUT, env={**os.environ, "GPT2TUTOR_KERNELS": "0"})
    body = json.dumps({"model": folder.name, "prompt": "Hello", "max_tokens": 8, "temperature": 0}).encode()
    answer = None
    try:
        while time.perf_counter() - started < timeout and proc.poll() is None:
            try:
                request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/completions", data=body,
                                                 headers={"Content-Type": "application/json"})
                with urllib.request.urlopen(request, timeout=30) as response:
                    answer = json.loads(response.read())
                    break
            except OSError:
                time.sleep(2)
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
    seconds = time.perf_counter() - started
    if answer is not None:
        print(f"== serve: answered in {seconds:.1f} s: {json.dumps(answer)[:300]}", flush=True)
    else:
        print(f"== serve: no answer after {seconds:.1f} s (exit {proc.poll()}); the log's end:", flush=True)
        print("".join((out / "serve.log").read_text("utf-8", "replace").splitlines(keepends=True)[-15:]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="where each part's log goes (default: a temp dir)")
    parser.add_argument("--new-tokens", type=int, default=256)
    parser.add_argument("--skip", default="", help="parts to leave out, comma-separated")
    parser.add_argument("--part-timeout", type=float, default=240.0, help="seconds each part may take")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    out = args.out or Path(tempfile.mkdtemp(prefix="bench-gpu-"))
    out.mkdir(parents=True, exist_ok=True)

    from max import driver

    if driver.accelerator_count() == 0:
        sys.exit("bench_gpu: MAX sees no GPU on this machine")
    print(f"GPU: {driver.accelerator_architecture_name()} · MAX sees {driver.accelerator_count()} · "
          f"{os.cpu_count()} CPU cores", flush=True)
    base = Path(tempfile.mkdtemp(prefix="bench-gpu-work-"))
    gpt2tutor = [sys.executable, "-m", "gpt2tutor"]
    if "generate" not in skip:
        run("generate", [sys.executable, str(ROOT / "benchmarks" / "bench_generate.py"), "--device", "gpu",
                         "--new-tokens", str(args.new_tokens), "--repeats", "2"], out, args.part_timeout)
    workspace = references_workspace(base)
    if "checks" not in skip:
        run("checks", [*gpt2tutor, "check", "--all", "--device", "gpu", "--workspace", str(workspace)], out,
            args.part_timeout, env={"GPT2TUTOR_TIMEOUT": "600"})  # MAX compiles the GPU's kernels on first use
    folder = checkpoint(base) if {"cli", "serve"} - skip else None
    if "cli" not in skip:
        for name, extra in [("cli_reference", ["--reference"]), ("cli_learner", [])]:
            run(name, [*gpt2tutor, "generate", "The GPU", "--device", "gpu", "--greedy", "-n", "64", "--json",
                       "--model", str(folder), "--workspace", str(workspace), *extra], out, args.part_timeout,
                env={"GPT2TUTOR_KERNELS": "0"})
            lines = (out / f"{name}.log").read_text("utf-8", "replace").splitlines()
            ttft = next((t for t in map(first_token, reversed(lines)) if t is not None), None)
            print(f"== {name}: time to first token {ttft if ttft is None else round(ttft, 3)} s", flush=True)
    if "serve" not in skip:
        serve_until_ready(folder, workspace, out, args.part_timeout)
    shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
