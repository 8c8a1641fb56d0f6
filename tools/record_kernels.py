"""Maintainers: record which eager MAX targets the checks use and write gpt2tutor/course/kernels.json.

    python tools/record_kernels.py [tests/variants]
    python tools/record_kernels.py --generate      (only the generate run, keeping the checks' batches)

Runs the reference solutions' checks (and, given a folder, each learner variant in it) in child
processes whose op families note every target they look up, then writes one batch per step that first
needs new targets (steps sharing a batch in course.toml share one), plus an 'extra' batch for targets only the
variants use. Then it runs a real `generate --reference` (greedy, top-k and top-p sampled, on a small checkpoint
with random weights made here: a target is named by op, dtype and rank, never by size; the run compiles the
small model's graph once, minutes on 2 cores): the targets it looks up go to the manifest's 'generate' list,
and those no batch above holds to a 'generation' batch, which the background compiles once a learner reaches
the generation step. Keeps the estimates.
Regenerate when a check, or the generation path, changes the ops it runs: tests/test_perf_infra.py fails
until you do.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

MANIFEST = Path(__file__).resolve().parents[1] / "gpt2tutor" / "course" / "kernels.json"


class _Recorder(dict):
    """A family's model cache that notes every target looked up in it."""

    def __init__(self, family: str, base: dict, log: list):
        super().__init__(base)
        self._family, self._log = family, log

    def get(self, key, default=None):
        self._log.append((self._family, key))
        return super().get(key, default)

    def __getitem__(self, key):
        self._log.append((self._family, key))
        return super().__getitem__(key)


def record_run(exercises: Path, out: Path, steps: list[str]) -> None:
    """Child side: runs the steps' checks on `exercises`, writing the targets each step uses to `out`."""
    from gpt2tutor import maxenv
    from gpt2tutor.checking import child
    from gpt2tutor.checking.protocol import Writer
    from gpt2tutor.registry import get_step

    maxenv.tune_process()
    sys.path.insert(0, str(exercises))
    sys.dont_write_bytecode = True
    log = _recording()
    reporter = Writer(Path(os.devnull))
    used: dict[str, list] = {}
    for sid in steps:
        del log[:]
        child.run_step(get_step(sid), exercises, reporter, seed=1)
        used[sid] = sorted(set(log))
    out.write_text(json.dumps(used))


PROMPT = "Once upon a time"
# generate's paths: greedy, and sampled (plain `generate` samples) with top-k, and with temperature and top-p
GENERATE_SETTINGS = ({"greedy": True}, {"top_k": 40, "seed": 1}, {"temperature": 0.8, "top_p": 0.9, "seed": 2})


def _recording() -> list:
    """From now on in this process, every target an op family looks up is appended to the list returned."""
    from gpt2tutor import maxinternals

    log: list = []
    for name, family in maxinternals.families().items():
        family.cache = _Recorder(name, family.cache, log)
    return log


def small_checkpoint(folder: Path) -> Path:
    """A GPT-2 checkpoint of small sizes, random weights and a byte-level BPE trained here (offline)."""
    import numpy as np
    from safetensors.numpy import save_file
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    from gpt2tutor.graphs import _random_hf_weights

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator([PROMPT + " there was a model that learned to write. " * 20],
                            trainers.BpeTrainer(vocab_size=100, special_tokens=["<|endoftext|>"]))
    sizes = dict(vocab_size=bpe.get_vocab_size(), n_positions=32, n_embd=16, n_layer=1, n_head=2, n_inner=64,
                 layer_norm_epsilon=1e-5)
    folder.mkdir(parents=True, exist_ok=True)
    bpe.save(str(folder / "tokenizer.json"))
    (folder / "config.json").write_text(json.dumps({"model_type": "gpt2", **{k: v for k, v in sizes.items()
                                                                             if k != "layer_norm_epsilon"}}))
    save_file(_random_hf_weights(sizes, np.random.default_rng(0)), str(folder / "model.safetensors"))
    return folder


def record_generation_run(model: Path, out: Path) -> None:
    """Child side: `generate --reference` on the checkpoint in `model` (a new one when it is empty), greedy and
    sampled, writing every target it looks up to `out`."""
    from gpt2tutor import api, maxenv

    maxenv.tune_process()
    if not (model / "config.json").exists():
        small_checkpoint(model)
    log = _recording()
    for settings in GENERATE_SETTINGS:
        api.generate(PROMPT, reference=True, model=str(model), max_new_tokens=3, **settings).run()
    out.write_text(json.dumps(sorted(set(log))))


def record_generation(model: Path | None = None) -> list:
    """The targets a real `generate --reference` looks up (in a child process)."""
    with tempfile.TemporaryDirectory(prefix="gpt2tutor-record-") as tmp:
        out = Path(tmp) / "used.json"
        done = subprocess.run([sys.executable, __file__, "_record_generation", str(model or Path(tmp) / "model"),
                               str(out)], cwd=tmp, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=1800, check=False, env={**os.environ, "GPT2TUTOR_BACKGROUND": "0"})
        if not out.exists():
            raise RuntimeError(f"the generate run failed: {done.stderr[-2000:]}")
        return json.loads(out.read_text())


def _run(files: dict[str, str], steps: list[str]) -> dict:
    from gpt2tutor.registry import STEPS

    with tempfile.TemporaryDirectory(prefix="gpt2tutor-record-") as tmp:
        exercises = Path(tmp) / "exercises"
        exercises.mkdir()
        for step in STEPS:
            (exercises / step.filename).write_text(files.get(step.id, step.solution()), encoding="utf-8")
        out = Path(tmp) / "used.json"
        subprocess.run([sys.executable, __file__, "_record_run", str(exercises), str(out), *steps],
                       cwd=exercises, stdin=subprocess.DEVNULL, capture_output=True, timeout=600, check=False)
        return json.loads(out.read_text()) if out.exists() else {}


def record(variants: Path | None) -> tuple[list[tuple[str, list]], list]:
    """(batches, extra targets), in learner order."""
    from gpt2tutor.registry import STEPS

    used = _run({}, [s.id for s in STEPS])
    seen: set = set()
    grouped: dict[str, list] = {}  # batch name -> its kernels, in the order the steps come
    for step in STEPS:
        new = [k for k in used.get(step.id, []) if tuple(k) not in seen]
        seen.update(tuple(k) for k in new)
        if new:
            grouped.setdefault(step.kernel_batch, []).extend(new)
    staged = [(name, sorted(keys)) for name, keys in grouped.items()]
    extra: list = []
    for path in sorted(variants.glob("step_*/*.py")) if variants is not None else []:
        sid = path.parent.name[5:]
        try:
            found = _run({sid: path.read_text("utf-8")}, [sid])
        except (subprocess.TimeoutExpired, OSError):
            continue
        for k in found.get(sid, []):
            if tuple(k) not in seen:
                seen.add(tuple(k))
                extra.append(k)
    return staged, sorted(extra)


def main(args: list[str]) -> int:
    if args[:1] == ["_record_run"]:
        record_run(Path(args[1]), Path(args[2]), args[3:])
        return 0
    if args[:1] == ["_record_generation"]:
        record_generation_run(Path(args[1]), Path(args[2]))
        return 0
    if len(args) > 1 or args[:1] in (["-h"], ["--help"]):
        print(__doc__, file=sys.stderr)
        return 2
    manifest = json.loads(MANIFEST.read_text("utf-8"))
    if args == ["--generate"]:
        kept = [b for b in manifest["batches"] if b["name"] != "generation"]
        staged = [(b["name"], b["keys"]) for b in kept if b["name"] != "extra"]
        extra = next((b["keys"] for b in kept if b["name"] == "extra"), [])
    else:
        staged, extra = record(Path(args[0]) if args else None)
    generate = record_generation()
    held = {tuple(k) for _, keys in staged for k in keys} | {tuple(k) for k in extra}
    generation = [k for k in generate if tuple(k) not in held]
    manifest["batches"] = [{"name": name, "keys": keys} for name, keys in staged]
    if extra:
        manifest["batches"].append({"name": "extra", "keys": extra})
    if generation:
        manifest["batches"].append({"name": "generation", "keys": generation})
    manifest["generate"] = generate
    MANIFEST.write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    for name, keys in staged:
        print(f"batch {name}: {len(keys)} targets")
    print(f"extra: {len(extra)} targets")
    print(f"generate: {len(generate)} targets, {len(generation)} in no batch above (the generation batch)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
