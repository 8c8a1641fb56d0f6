"""`gpt2tutor serve`: the real CLI running the real `max serve`, asked through the official openai client.

No network: a small checkpoint made here (tests/serving_support.py) whose tokens are whole ASCII
characters, compared with HF transformers' greedy `generate`. One server per model kind is started
for the module on a free loopback port; every process it starts is killed in a `finally`.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from typer.testing import CliRunner

openai = pytest.importorskip("openai")
pytest.importorskip("torch")
pytest.importorskip("tokenizers")
pytest.importorskip("uvicorn", reason="serving is not installed: pip install '.[serve]' in the clone")

from serving_support import (  # noqa: E402
    ServeProcess,
    hf_greedy_text,
    listening_addresses,
    port_is_free,
    post,
    save_checkpoint,
)

from gpt2tutor.cli import build_app  # noqa: E402
from gpt2tutor.maxenv import child_environment  # noqa: E402
from gpt2tutor.registry import STEPS, by_role  # noqa: E402
from gpt2tutor.serving.launch import free_port  # noqa: E402

PROMPTS = ["Once upon a time", "The small model", "It read the same"]
MAX_TOKENS = 20
READY_TIMEOUT_S = 1800  # a cold compile on a loaded 2-core machine takes many minutes
ENV = {"GPT2TUTOR_WORKSPACE": None, "COLUMNS": "200", "NO_COLOR": "1", "GPT2TUTOR_DEBUG": None}
app = build_app(["serve"])
runner = CliRunner()


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return save_checkpoint(tmp_path_factory.mktemp("serve") / "tiny-gpt2")


@pytest.fixture(scope="module")
def expected(checkpoint: Path) -> dict[str, str]:
    return {p: hf_greedy_text(checkpoint, p, MAX_TOKENS) for p in PROMPTS}


@pytest.fixture(scope="module")
def servers(checkpoint: Path, tmp_path_factory):
    """The module's server, shared by its tests, and started again for a test that comes after one that stopped
    it (Ctrl-C), whatever order the tests run in."""
    started: list[ServeProcess] = []

    def running() -> ServeProcess:
        if not started or started[-1].proc.poll() is not None:
            log = tmp_path_factory.mktemp("serve-log") / "serve.log"
            started.append(ServeProcess(["--reference", "--model", str(checkpoint)], free_port(), log=log))
            started[-1].wait_ready(READY_TIMEOUT_S)
        return started[-1]

    try:
        yield running
    finally:
        for proc in started:
            proc.kill_everything()


@pytest.fixture
def server(servers) -> ServeProcess:
    return servers()


def client(server) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0, timeout=120)


def complete(server, prompt: str, **kw) -> str:
    out = client(server).completions.create(model="tiny-gpt2", prompt=prompt, max_tokens=MAX_TOKENS,
                                            temperature=0, **kw)
    return out.choices[0].text


def test_model_id_is_the_checkpoint_name(server) -> None:
    assert [m.id for m in client(server).models.list().data] == ["tiny-gpt2"]


def test_greedy_completions_match_transformers(server, expected: dict[str, str]) -> None:
    for prompt in PROMPTS:
        assert complete(server, prompt) == expected[prompt], prompt


def test_streamed_chunks_join_to_the_same_text(server, expected: dict[str, str]) -> None:
    for prompt in PROMPTS:
        stream = client(server).completions.create(model="tiny-gpt2", prompt=prompt, max_tokens=MAX_TOKENS,
                                                   temperature=0, stream=True)
        chunks = [c.choices[0].text for c in stream if c.choices]
        assert len(chunks) > 1
        assert "".join(chunks) == expected[prompt], prompt


def test_four_concurrent_requests_are_all_correct(server, expected: dict[str, str]) -> None:
    prompts = [*PROMPTS, PROMPTS[0]]
    with ThreadPoolExecutor(4) as pool:
        texts = list(pool.map(lambda p: complete(server, p), prompts))
    assert texts == [expected[p] for p in prompts]


def test_a_client_leaving_mid_stream_disturbs_no_one(server, expected: dict[str, str]) -> None:
    stream = client(server).completions.create(model="tiny-gpt2", prompt=PROMPTS[1], max_tokens=60,
                                               temperature=0, stream=True)
    with ThreadPoolExecutor(1) as pool:
        other = pool.submit(complete, server, PROMPTS[2])
        next(iter(stream))
        stream.close()  # hang up after the first chunk
        assert other.result() == expected[PROMPTS[2]]
    assert complete(server, PROMPTS[0]) == expected[PROMPTS[0]]


BAD_REQUESTS = {
    "malformed JSON": b'{"model": "tiny-gpt2", "prompt": "Once',
    "no prompt": {"model": "tiny-gpt2", "max_tokens": 5},
    "zero max_tokens": {"model": "tiny-gpt2", "prompt": "Once", "max_tokens": 0},
    "negative max_tokens": {"model": "tiny-gpt2", "prompt": "Once", "max_tokens": -3},
    "negative temperature": {"model": "tiny-gpt2", "prompt": "Once", "max_tokens": 5, "temperature": -1},
    "unknown model": {"model": "gpt-4", "prompt": "Once", "max_tokens": 5},
}


@pytest.mark.parametrize("what", list(BAD_REQUESTS))
def test_bad_request_gets_4xx_and_the_server_keeps_serving(server, expected: dict[str, str], what: str) -> None:
    status, body = post(f"{server.url}/v1/completions", BAD_REQUESTS[what])
    assert 400 <= status < 500, (what, status, body)
    assert isinstance(body, dict), body  # a JSON error, not an HTML page
    assert complete(server, PROMPTS[0]) == expected[PROMPTS[0]]


def test_max_tokens_beyond_the_context_is_refused_or_capped(server, checkpoint: Path) -> None:
    status, body = post(f"{server.url}/v1/completions",
                        {"model": "tiny-gpt2", "prompt": PROMPTS[0], "max_tokens": 500, "temperature": 0})
    if 400 <= status < 500:
        assert isinstance(body, dict), body
    else:
        assert status == 200, body
        assert body["choices"][0]["finish_reason"] == "length"
        assert body["usage"]["prompt_tokens"] + body["usage"]["completion_tokens"] <= 96  # n_positions
    assert post(f"{server.url}/v1/completions", {"model": "tiny-gpt2", "prompt": "Once", "max_tokens": 3})[0] == 200


def test_listens_on_loopback_only(server) -> None:
    addresses = listening_addresses(set(server.live_processes()))
    assert ("127.0.0.1", server.port) in addresses, addresses
    assert all(addr in ("127.0.0.1", "::1") for addr, _ in addresses), addresses


def test_ctrl_c_stops_every_process_and_frees_the_port(server) -> None:
    code = server.ctrl_c()  # a test after this one gets a new server
    assert code is not None, "gpt2tutor serve did not exit within 60 s of Ctrl-C"
    assert code in (0, 130), server.tail()
    left = server.left_behind()
    assert not left, f"processes left after Ctrl-C: {left}"
    assert port_is_free(server.port)


# --- the learner's own model ----------------------------------------------------------------------

def test_learner_model_is_served_and_matches_transformers(checkpoint: Path, expected: dict[str, str],
                                                          tmp_path: Path) -> None:
    from test_generate import make_workspace

    ws = make_workspace(tmp_path / "ws", passed=STEPS.index(by_role("generation")) + 1)  # not step 15: one by one
    proc = ServeProcess(["--model", str(checkpoint), "--workspace", str(ws)], free_port(), log=tmp_path / "log")
    try:
        proc.wait_ready(READY_TIMEOUT_S)
        with ThreadPoolExecutor(2) as pool:  # two at once: the batch holds more than one request
            texts = list(pool.map(lambda p: complete(proc, p), PROMPTS[:2]))
        assert texts == [expected[p] for p in PROMPTS[:2]]
    finally:
        proc.kill_everything()


# --- refusals, through the CLI, without starting MAX ----------------------------------------------

def cli(*args, env: dict | None = None):
    return runner.invoke(app, ["serve", *map(str, args)], env={**ENV, **(env or {})})


def assert_one_line_error(result, *needles: str) -> None:
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    for needle in needles:
        assert needle.lower() in lines[0].lower(), lines[0]


def test_without_the_serving_extra_it_names_the_command(monkeypatch, checkpoint: Path) -> None:
    from gpt2tutor.serving import launch

    monkeypatch.setattr(launch, "SERVE_MODULES", (*launch.SERVE_MODULES, "no_such_module_for_serving"))
    assert_one_line_error(cli("--reference", "--model", checkpoint), launch.INSTALL_COMMAND)


def test_the_install_command_installs_the_serve_extra_from_an_index() -> None:
    """The message names what the `serve` extra holds, installable anywhere (gpt2tutor itself is on no index)."""
    import shlex

    try:
        import tomllib
    except ImportError:  # Python 3.10: the tutor's own dependency
        import tomli as tomllib

    from gpt2tutor.serving import launch

    extra = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())["project"]["optional-dependencies"]["serve"]
    words = shlex.split(launch.INSTALL_COMMAND)
    assert words[:2] == ["pip", "install"] and words[2:] == extra, (words, extra)
    assert "gpt2tutor" not in launch.INSTALL_COMMAND


def test_doctor_says_whether_serving_is_installed(monkeypatch) -> None:
    from gpt2tutor.serving import launch

    doctor = build_app(["doctor"])
    result = runner.invoke(doctor, ["doctor"], env=ENV)
    assert "Serving" in result.stdout and "installed: `gpt2tutor serve`" in result.stdout, result.stdout
    monkeypatch.setattr(launch, "SERVE_MODULES", ("no_such_module_for_serving",))
    result = runner.invoke(doctor, ["doctor"], env=ENV)
    assert launch.INSTALL_COMMAND in result.stdout, result.stdout


def test_a_port_in_use_is_one_line(checkpoint: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        assert_one_line_error(cli("--reference", "--model", checkpoint, "--port", s.getsockname()[1]), "in use")


def test_a_host_beyond_loopback_is_warned_about(checkpoint: Path) -> None:
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        s.listen()
        result = cli("--reference", "--model", checkpoint, "--host", "0.0.0.0", "--port", s.getsockname()[1])
    assert result.exit_code == 2
    assert "reachable" in result.stderr or "can use the model" in result.stderr, result.stderr


def test_locked_until_the_generation_steps_pass(tmp_path: Path, checkpoint: Path) -> None:
    from test_generate import make_workspace

    generation = by_role("generation")
    ws = make_workspace(tmp_path / "ws", passed=STEPS.index(generation))
    assert_one_line_error(cli("--model", checkpoint, "--workspace", ws), "serve runs your own model",
                          generation.id, "--reference")


def test_eject_writes_the_package_and_never_overwrites(tmp_path: Path) -> None:
    target = tmp_path / "my_gpt2"
    result = cli("--eject", target)
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in target.iterdir()) == ["__init__.py", "config.py", "model.py"]
    assert "ARCHITECTURES" in (target / "__init__.py").read_text()
    assert f"--custom-architectures {target}" in result.stdout
    (target / "model.py").write_text("# my changes\n")
    assert_one_line_error(cli("--eject", target), "already holds")
    assert (target / "model.py").read_text() == "# my changes\n"
    assert_one_line_error(cli("--eject", tmp_path / "not-a-name"), "identifier")


def test_eject_loads_no_max(tmp_path: Path) -> None:
    """Importing the architecture package loads MAX's pipelines, which set MODULAR_* variables that every
    later child process inherits: eject copies it as files instead (checked in a fresh process)."""
    code = ("import sys\nfrom typer.testing import CliRunner\nfrom gpt2tutor.cli import build_app\n"
            f"r = CliRunner().invoke(build_app(['serve']), ['serve', '--eject', {str(tmp_path / 'pkg')!r}])\n"
            "print(r.exit_code, sorted(m for m in sys.modules if m.partition('.')[0] == 'max'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True,
                         env=child_environment())
    assert out.stdout.strip() == "0 []", out.stdout + out.stderr
