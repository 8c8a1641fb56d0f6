"""Device mistakes named on a machine without a GPU (gpt2tutor/checking/devices.py), and `--device` choices.

The checks trace the learner's code for a GPU that MAX's virtual device mode describes; these tests hold that the
trace catches what a real GPU refused (the H200's own error for step 13's `arange(seq) + past`), names it, and
leaves MAX as it found it for the eager checks that follow.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

PROBE = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    from max.dtype import DType
    from max.experimental import functional as F
    from max.experimental.tensor import Tensor, defaults
    from gpt2tutor.checking import devices
    from gpt2tutor.course.reference import step_01, step_13

    cfg = step_01.GPT2Config(vocab_size=61, n_positions=24, n_embd=32, n_layer=2, n_head=4, n_inner=96)
    kv = devices.tensor_type("float32", ["batch", 4, "past", 8])
    ids = devices.tensor_type("int64", ["batch", "seq"])
    found = {}

    class PlusPast(step_13.GPT2CachedLMHeadModel):  # the form that failed on an H200
        def forward(self, input_ids, past_key_values):
            past = past_key_values[0][0].shape[2]
            return self.transformer.wpe(Tensor.arange(input_ids.shape[1], dtype=DType.int64,
                                                      device=input_ids.device) + past)

    with devices.gpu():
        found["inside"] = str(defaults(None, None)[0])
        out = devices.trace_module(lambda: step_13.GPT2CachedLMHeadModel(cfg), lambda m, i, p: m(i, p)[0],
                                   [ids, [(kv, kv)] * 2])
        found["reference"] = str(out.device)
        try:
            devices.trace_module(lambda: PlusPast(cfg), lambda m, i, p: m(i, p), [ids, [(kv, kv)] * 2])
            found["plus_past"] = None
        except Exception as exc:
            found["plus_past"] = devices.device_mistake(exc, Path(step_13.__file__).parent)
        found["unrelated"] = devices.device_mistake(TypeError("Can't realize tensor"), Path("."))
    found["after"] = [str(d) for d in defaults(None, None)]
    found["eager"] = Tensor.arange(3, dtype=DType.int64).to_numpy().tolist()
    print(json.dumps(found))
""")


@pytest.fixture(scope="module")
def probe() -> dict:
    import json

    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_virtual_gpu_takes_the_reference_and_names_the_pitfall_a_real_one_refused(probe) -> None:
    assert probe["inside"] == "DType.bfloat16"  # MAX's default dtype on a GPU: the trace sees what a GPU machine would
    assert probe["reference"] == "Device(type=gpu,id=0)"
    message = probe["plus_past"]
    assert message is not None and "a symbolic dim" in message and "on the CPU" in message, message
    assert "int64 scalar on cpu" in message and "`.to(x.device)`" in message, message


def test_an_error_about_something_else_is_no_device_mistake(probe) -> None:
    assert probe["unrelated"] is None


def test_max_is_back_on_the_cpu_after_the_trace(probe) -> None:
    assert probe["after"][0] == "DType.float32"
    assert probe["eager"] == [0, 1, 2]


def test_check_device_gpu_without_a_gpu_is_one_line_and_exit_2(tmp_path) -> None:
    done = subprocess.run([sys.executable, "-m", "gpt2tutor", "check", "01", "--device", "gpu", "--workspace",
                           str(tmp_path / "ws")], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "no GPU" in lines[0] and "Traceback" not in done.stderr, done.stderr
