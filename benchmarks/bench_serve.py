"""`gpt2tutor serve` on GPT-2 124M (random weights): time to ready, and throughput for 1 and 4 clients.

    python benchmarks/bench_serve.py [--requests N] [--max-tokens T] [--skip-cold] [--skip-learner]

Prints, for the tutor's reference model (KV cache per request) and the learner's model (the
reference solutions, with their step-13 cache per request), both behind the real `max serve`:
- time from `gpt2tutor serve` to the first answer from /v1/models: with a cold MAX cache (a
  temporary XDG_CACHE_HOME), the first start in your own cache, and a second (warm) start;
- tokens/s and requests/s for 1 and 4 concurrent clients (greedy, fixed prompt and length).
The peer, measured in the same run: HF transformers' own `generate` (KV-cached, in process, no
server) on the same checkpoint. MAX 26.7 ships no GPT-2 architecture of its own, so there is no
`max serve` run on Modular's GPT-2 to compare with.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _procs import load
from serving_support import ServeProcess, post

from gpt2tutor.serving.launch import free_port

PROMPT = " ".join(f"w{i}" for i in range(1, 17))  # 16 tokens


def save_124m(folder: Path) -> Path:
    """GPT-2 124M's sizes with random weights; a WordLevel tokenizer over its 50257 ids (w1 w2 ...)."""
    import torch
    import transformers
    from tokenizers import Tokenizer, models, pre_tokenizers

    folder.mkdir(parents=True, exist_ok=True)
    vocab = {"<|endoftext|>": 0, **{f"w{i}": i for i in range(1, 50257)}}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<|endoftext|>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    transformers.PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|endoftext|>", eos_token="<|endoftext|>",
                                         unk_token="<|endoftext|>").save_pretrained(folder)
    # no end-of-text id the model could pick: every request runs its full length
    config = transformers.GPT2Config(bos_token_id=None, eos_token_id=None, pad_token_id=None)
    torch.manual_seed(0)
    transformers.GPT2LMHeadModel(config).eval().save_pretrained(folder, safe_serialization=True)
    return folder


def solved_workspace(root: Path) -> Path:
    from gpt2tutor import state as state_store
    from gpt2tutor.registry import STEPS
    from gpt2tutor.workspace import create

    ws = create(root)
    ws.exercises.mkdir(parents=True, exist_ok=True)
    state = state_store.State()
    for step in STEPS:
        ws.exercise(step).write_text(step.solution(), encoding="utf-8")
        state.mark(step, True, ws.file_hash(step))
    state_store.save(ws, state)
    return root


def throughput(url: str, clients: int, requests: int, max_tokens: int) -> tuple[float, float]:
    """(tokens/s, requests/s) over `requests` greedy completions sent by `clients` threads."""
    body = {"model": "gpt2-124m-random", "prompt": PROMPT, "max_tokens": max_tokens, "temperature": 0}

    def one(_: int) -> int:
        status, reply = post(f"{url}/v1/completions", body, timeout=1200)
        if status != 200:
            raise RuntimeError(f"{status}: {reply}")
        return reply["usage"]["completion_tokens"]

    post(f"{url}/v1/completions", {**body, "max_tokens": 2}, timeout=1200)  # the first request's one-off costs
    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        tokens = sum(pool.map(one, range(requests)))
    elapsed = time.perf_counter() - t0
    return tokens / elapsed, requests / elapsed


def hf_peer(folder: Path, max_tokens: int, repeats: int) -> float:
    import torch
    import transformers

    torch.set_num_threads(os.cpu_count() or 1)
    model = transformers.GPT2LMHeadModel.from_pretrained(folder).eval()
    ids = torch.tensor([list(range(1, 17))])
    with torch.no_grad():
        model.generate(ids, max_new_tokens=2, do_sample=False)
        t0 = time.perf_counter()
        for _ in range(repeats):
            model.generate(ids, max_new_tokens=max_tokens, min_new_tokens=max_tokens, do_sample=False)
    return repeats * max_tokens / (time.perf_counter() - t0)


def serve(args: list[str], env: dict | None, log: Path, timeout: float) -> tuple[ServeProcess, float]:
    proc = ServeProcess(args, free_port(), env=env, log=log)
    try:
        return proc, proc.wait_ready(timeout)
    except BaseException:
        proc.kill_everything()
        raise


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=8, help="requests per throughput run")
    parser.add_argument("--max-tokens", type=int, default=32, help="tokens each request generates")
    parser.add_argument("--skip-cold", action="store_true", help="don't measure a cold-cache start")
    parser.add_argument("--skip-learner", action="store_true", help="serve only the reference")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds to wait for a server")
    opts = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    folder = save_124m(work / "gpt2-124m-random")
    ws = solved_workspace(work / "ws")
    print(f"# bench_serve: GPT-2 124M random weights, prompt 16 tokens, {opts.max_tokens} new tokens a request, "
          f"{opts.requests} requests a run · {load()}")
    results: dict = {}
    kinds = [("reference", ["--reference"]), ("learner", ["--workspace", str(ws)])]
    if opts.skip_learner:
        kinds = kinds[:1]
    for kind, extra in kinds:
        args = ["--model", str(folder), *extra]
        row: dict = {}
        if not opts.skip_cold and kind == "reference":
            cold = {"XDG_CACHE_HOME": str(work / f"cold-cache-{kind}")}
            proc, row["ready_cold_s"] = serve(args, cold, work / f"{kind}-cold.log", opts.timeout)
            proc.ctrl_c()
            proc.kill_everything()
        # the first start in your own cache compiles whatever it lacks; the second finds all of it there
        proc, row["ready_first_s"] = serve(args, None, work / f"{kind}-first.log", opts.timeout)
        proc.ctrl_c()
        proc.kill_everything()
        proc, row["ready_warm_s"] = serve(args, None, work / f"{kind}.log", opts.timeout)
        try:
            for clients in (1, 4):
                tps, rps = throughput(proc.url, clients, opts.requests, opts.max_tokens)
                row[f"tokens_per_s_{clients}"], row[f"requests_per_s_{clients}"] = tps, rps
        finally:
            proc.ctrl_c()
            proc.kill_everything()
        results[kind] = row
        print(f"{kind:9}  " + "  ".join(f"{k} {v:.2f}" for k, v in row.items()), flush=True)
    peer = hf_peer(folder, opts.max_tokens, repeats=3)
    results["hf_generate_tokens_per_s"] = peer
    print(f"peer       HF transformers generate (in process, KV cache, one sequence): {peer:.2f} tokens/s")
    for kind in results:
        if kind in ("reference", "learner"):
            ratio = results[kind]["tokens_per_s_1"] / peer
            print(f"ratio      {kind} served, 1 client / HF generate: {ratio:.2f}")
    if "learner" in results:
        print(f"ratio      learner / reference, 4 clients: "
              f"{results['learner']['tokens_per_s_4'] / results['reference']['tokens_per_s_4']:.2f}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
