"""`gpt2tutor generate`, driven through the command line, against HuggingFace transformers.

No network: a small GPT-2 checkpoint is made here with transformers (random weights at a large
initializer_range, so the logits are peaked and float32 rounding can't flip an argmax) and saved as
safetensors, with a byte-level BPE tokenizer trained on a short text and saved beside it as a
GPT2TokenizerFast. Its sizes never change, so MAX's disk cache makes every compile after the first
one fast.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

from gpt2tutor import state as state_store  # noqa: E402
from gpt2tutor.cli import build_app  # noqa: E402
from gpt2tutor.curriculum import STEPS  # noqa: E402
from gpt2tutor.workspace import create  # noqa: E402

PROMPT = "Once upon a time"
NEW_TOKENS = 40
ENV = {"GPT2TUTOR_WORKSPACE": None, "COLUMNS": "200", "NO_COLOR": "1", "GPT2TUTOR_DEBUG": None}
STORY = ("Once upon a time there was a small model that learned to write. It read the same short story "
         "again and again, and every time it guessed the next word a little better. The end. ")

app = build_app(["generate"])  # just this command: the rest of the CLI is tested elsewhere
runner = CliRunner()


def cli(*args, env: dict | None = None):
    return runner.invoke(app, ["generate", *map(str, args)], env={**ENV, **(env or {})})


def stderr_lines(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.strip()]


def assert_one_line_error(result, *needles: str, code: int = 2) -> None:
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    lines = stderr_lines(result)
    assert len(lines) == 1, lines
    assert "Traceback" not in result.stderr + result.stdout
    for needle in needles:
        assert needle.lower() in lines[0].lower(), lines[0]


# --- the checkpoint and the workspaces -----------------------------------------------------------

def save_tokenizer(folder: Path) -> int:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    bpe.train_from_iterator([STORY * 20], trainer)
    fast = transformers.GPT2TokenizerFast(tokenizer_object=bpe, bos_token="<|endoftext|>",
                                          eos_token="<|endoftext|>", unk_token="<|endoftext|>")
    fast.save_pretrained(folder)
    return bpe.get_vocab_size()


def small_gpt2(vocab_size: int) -> torch.nn.Module:
    config = transformers.GPT2Config(
        vocab_size=vocab_size, n_positions=96, n_embd=48, n_layer=2, n_head=4, initializer_range=0.3,
        bos_token_id=0, eos_token_id=0, pad_token_id=0)
    torch.manual_seed(1234)
    return transformers.GPT2LMHeadModel(config).eval()


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("small-gpt2")
    vocab = save_tokenizer(folder)
    small_gpt2(vocab).save_pretrained(folder, safe_serialization=True)
    assert (folder / "model.safetensors").is_file() and not list(folder.glob("*.bin"))
    return folder


@pytest.fixture(scope="module")
def hf_greedy(checkpoint: Path) -> list[int]:
    """HF transformers' greedy continuation of PROMPT: the ids every implementation must reproduce."""
    tok = transformers.AutoTokenizer.from_pretrained(checkpoint)
    model = transformers.GPT2LMHeadModel.from_pretrained(checkpoint).eval()
    ids = torch.tensor([tok.encode(PROMPT)])
    with torch.no_grad():
        out = model.generate(ids, max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS, do_sample=False,
                             eos_token_id=None, pad_token_id=0)
    return out[0, ids.shape[1]:].tolist()


def make_workspace(root: Path, passed: int = len(STEPS)) -> Path:
    """A workspace whose exercise files are the reference solutions; the first `passed` steps passed."""
    ws = create(root)
    ws.exercises.mkdir(parents=True, exist_ok=True)
    for step in STEPS:
        ws.exercise(step).write_text(step.solution(), encoding="utf-8")
    state = state_store.State()
    for step in STEPS[:passed]:
        state.mark(step, True, ws.file_hash(step))
    state_store.save(ws, state)
    return root


@pytest.fixture(scope="module")
def solved(tmp_path_factory) -> Path:
    return make_workspace(tmp_path_factory.mktemp("solved") / "ws")


def run_json(*args) -> dict:
    result = cli(*args, "--json")
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return json.loads(result.stdout)


# --- the same tokens as HuggingFace -------------------------------------------------------------

def test_reference_greedy_matches_transformers(checkpoint: Path, hf_greedy: list[int]) -> None:
    out = run_json(PROMPT, "--reference", "--model", checkpoint, "--greedy", "--max-new-tokens", NEW_TOKENS)
    assert len(hf_greedy) == NEW_TOKENS
    assert out["generated_ids"] == hf_greedy
    assert out["prompt"] == PROMPT and out["implementation"] == "reference"
    assert out["timings"]["tokens_per_s"] > 0 and out["timings"]["time_to_first_token_s"] > 0


def test_learner_model_greedy_matches_transformers(checkpoint: Path, hf_greedy: list[int], solved: Path) -> None:
    out = run_json(PROMPT, "--workspace", solved, "--model", checkpoint, "--greedy", "--max-new-tokens", NEW_TOKENS)
    assert out["generated_ids"] == hf_greedy
    assert out["implementation"] == "learner"


def test_streams_text_and_reports_speed(checkpoint: Path) -> None:
    result = cli(PROMPT, "--reference", "--model", checkpoint, "--greedy", "--max-new-tokens", 8)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.rstrip("\n").splitlines()
    assert lines[0].startswith(PROMPT)
    assert "tokens/s" in lines[-1] and "first token after" in lines[-1]


# --- sampling ------------------------------------------------------------------------------------

@pytest.mark.parametrize("extra", [[], ["--top-k", "20"], ["--top-p", "0.9", "--temperature", "1.5"]])
def test_same_seed_same_text(checkpoint: Path, extra: list[str]) -> None:
    def sample(seed: int) -> list[int]:
        return run_json(PROMPT, "--reference", "--model", checkpoint, "--seed", seed, "--max-new-tokens", 30,
                        *extra)["generated_ids"]

    first = sample(7)
    assert sample(7) == first
    assert sample(8) != first  # 30 draws from a 300-token vocabulary: a collision is vanishingly unlikely


def test_learner_sampling_repeats_with_seed(checkpoint: Path, solved: Path) -> None:
    def sample(seed: int) -> list[int]:
        return run_json(PROMPT, "--workspace", solved, "--model", checkpoint, "--seed", seed,
                        "--max-new-tokens", 6, "--top-k", 50)["generated_ids"]

    assert sample(3) == sample(3)


# --- refusals --------------------------------------------------------------------------------------

def test_pickle_checkpoint_is_refused(tmp_path: Path, checkpoint: Path) -> None:
    folder = tmp_path / "pickled"
    folder.mkdir()
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json"):
        (folder / name).write_bytes((checkpoint / name).read_bytes())
    model = transformers.GPT2LMHeadModel.from_pretrained(checkpoint)
    torch.save(model.state_dict(), folder / "pytorch_model.bin")
    result = cli(PROMPT, "--reference", "--model", folder)
    assert_one_line_error(result, "pickle", "pytorch_model.bin", "safetensors")


@pytest.mark.parametrize("args, needle", [
    (["", ], "empty"),
    (["   "], "empty"),
    ([PROMPT, "--max-new-tokens", "0"], "--max-new-tokens"),
    ([PROMPT, "--max-new-tokens", "-5"], "--max-new-tokens"),
    ([PROMPT, "--max-new-tokens", "95"], "positions"),  # the small model has 96 positions
    ([PROMPT, "--temperature", "0"], "--temperature"),
    ([PROMPT, "--temperature", "-1"], "--temperature"),
    ([PROMPT, "--top-p", "0"], "--top-p"),
    ([PROMPT, "--top-p", "1.5"], "--top-p"),
    ([PROMPT, "--top-k", "0"], "--top-k"),
    ([PROMPT, "--device", "tpu"], "--device"),
])
def test_bad_input_is_one_line_and_exit_2(checkpoint: Path, args: list[str], needle: str) -> None:
    assert_one_line_error(cli(*args, "--reference", "--model", checkpoint), needle)


def test_missing_folder(tmp_path: Path) -> None:
    assert_one_line_error(cli(PROMPT, "--reference", "--model", tmp_path / "nowhere"), "no folder")


def test_gpu_without_accelerator(checkpoint: Path) -> None:
    from max.driver import accelerator_count

    if accelerator_count() > 0:
        pytest.skip("this machine has a GPU")
    assert_one_line_error(cli(PROMPT, "--reference", "--model", checkpoint, "--device", "gpu"), "gpu")


def test_greedy_allows_any_temperature(checkpoint: Path) -> None:
    out = run_json(PROMPT, "--reference", "--model", checkpoint, "--greedy", "--temperature", "0",
                   "--max-new-tokens", 3)
    assert len(out["generated_ids"]) == 3


def test_locked_until_every_step_passes(tmp_path: Path, checkpoint: Path) -> None:
    ws = make_workspace(tmp_path / "ws", passed=9)
    assert_one_line_error(cli(PROMPT, "--workspace", ws, "--model", checkpoint), "10, 11, 12, 13, 14", "--reference")
    # a file edited after it passed counts as not passed
    ws2 = make_workspace(tmp_path / "ws2")
    path = ws2 / "exercises" / STEPS[6].filename
    path.write_text(path.read_text() + "\n# edited\n")
    assert_one_line_error(cli(PROMPT, "--workspace", ws2, "--model", checkpoint), "07 (changed")


def test_offline_missing_model_says_how_to_pass_a_folder(tmp_path: Path) -> None:
    # HF_HUB_OFFLINE is read when huggingface_hub is imported, hence a fresh process.
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1", "NO_COLOR": "1"}
    code = ("import sys, typer; from gpt2tutor.cli import build_app; "
            "typer.main.get_command(build_app(['generate'])).main(args=sys.argv[1:], prog_name='gpt2tutor')")
    proc = subprocess.run([sys.executable, "-c", code, "generate", PROMPT, "--reference", "--model",
                           "gpt2tutor-tests/no-such-model"], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "local folder" in lines[0] and "--model" in lines[0]


def test_learner_code_failure_is_reported_without_traceback(tmp_path: Path, checkpoint: Path) -> None:
    root = make_workspace(tmp_path / "ws")
    ws = create(root)
    step = STEPS[12]  # step 13: the cached model, which generate compiles and runs
    source = step.solution().replace("        return self.lm_head(", "        raise ValueError('boom')\n"
                                                                   "        return self.lm_head(")
    assert source != step.solution()
    ws.exercise(step).write_text(source, encoding="utf-8")
    state = state_store.load(ws)
    state.mark(step, True, ws.file_hash(step))
    state_store.save(ws, state)
    result = cli(PROMPT, "--workspace", root, "--model", checkpoint, "--greedy", "--max-new-tokens", 3)
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    last = stderr_lines(result)[-1]
    assert "step_13.py line" in last and "boom" in last, last


def test_stream_decoder_holds_back_half_characters(checkpoint: Path) -> None:
    from gpt2tutor.generation.tokenizer import StreamDecoder, Tokenizer

    tok = Tokenizer(checkpoint, "small")
    text = "a time é 🙂 the end"
    decoder = StreamDecoder(tok)
    pieces = [decoder.push(t) for t in tok.encode(text)] + [decoder.flush()]
    assert "".join(pieces) == text
    assert not any("\ufffd" in p for p in pieces)


# --- gpt2tutor attention -------------------------------------------------------------------------

def test_attention_heatmap(checkpoint: Path) -> None:
    result = runner.invoke(app, ["attention", "Once upon a time", "--model", str(checkpoint), "--layer", "1",
                                 "--head", "2"], env=ENV)
    assert result.exit_code == 0, result.stderr
    assert "block 1 · head 2" in result.stdout and "keys: 0=" in result.stdout


@pytest.mark.parametrize("args, needle", [(["--layer", "2"], "--layer"), (["--head", "4"], "--head"),
                                          (["--layer", "-1"], "--layer")])
def test_attention_bad_layer_or_head(checkpoint: Path, args: list[str], needle: str) -> None:
    result = runner.invoke(app, ["attention", PROMPT, "--model", str(checkpoint), *args], env=ENV)
    assert_one_line_error(result, needle)


@pytest.mark.parametrize("after", [0.8, 2.5])
def test_ctrl_c_during_generate_exits_130_cleanly(checkpoint: Path, after: float) -> None:
    """SIGINT while the model loads or compiles: exit 130, no traceback."""
    import signal
    import time

    env = {k: v for k, v in os.environ.items() if k != "GPT2TUTOR_WORKSPACE"}
    env.update(PYTHONUNBUFFERED="1", NO_COLOR="1")
    proc = subprocess.Popen(
        [sys.executable, "-c", "from gpt2tutor.cli import main; main()", "generate", PROMPT, "--reference",
         "--model", str(checkpoint), "--max-new-tokens", "80", "--seed", "1"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(after)
    assert proc.poll() is None, "generate finished before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (out, err)
    assert "Traceback" not in out + err
