"""Finding GPT-2 weights: a HuggingFace model id or a local folder, loaded from safetensors only.

`resolve(model)` returns the folder holding config.json, the safetensors weights and the tokenizer
files, downloading a model id through huggingface_hub into its standard cache (honouring HF_HOME
and HF_HUB_OFFLINE, with its own progress bars). Pickle checkpoints (.bin, .pt, .pth, .ckpt) are
never opened: unpickling can run any code the file's author chose.

Every failure is a CheckpointError whose message is one line for the learner.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..registry import by_role, defining

CONFIG_FILE = "config.json"
SAFETENSORS_FILE = "model.safetensors"
SAFETENSORS_INDEX = "model.safetensors.index.json"
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt", "special_tokens_map.json")
# What a download fetches: the config, the safetensors weights (one file or shards) and the tokenizer.
DOWNLOAD_PATTERNS = [CONFIG_FILE, SAFETENSORS_FILE, "model-*-of-*.safetensors", SAFETENSORS_INDEX, *TOKENIZER_FILES]

LOCAL_HINT = ("pass a local folder holding config.json, model.safetensors and the tokenizer files "
              "(e.g. --model ./gpt2-local)")


class CheckpointError(Exception):
    """The weights can't be found or used; the message is one line for the learner."""


@dataclass(frozen=True)
class Checkpoint:
    name: str  # what --model said
    folder: Path
    config: object  # the course's GPT2Config

    def state_dict(self) -> dict[str, np.ndarray]:
        """The weights under GPT2LMHeadModel's names: converted by the course's reference conversion."""
        return validate(convert(read_safetensors(self.folder)), self.folder, self.config)

    def hf_state_dict(self) -> dict[str, np.ndarray]:
        """The weights as HuggingFace stores them (for a pipeline's own conversion), once their names and shapes
        have been found to fit the config (in HF's layout, as the reference conversion reads it: no copy made)."""
        raw = read_safetensors(self.folder)
        validate_hf(raw, self.folder, self.config)
        return raw


def convert(hf_state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """HF GPT-2's names and layouts to GPT2LMHeadModel's: the reference solution of the conversion step,
    the one converter the tutor has."""
    return by_role("conversion").reference().convert_hf_state_dict(hf_state)


def resolve(model: str) -> Checkpoint:
    """The checkpoint `model` names: a local folder if one exists there, else a HuggingFace model id."""
    model = model.strip()
    if not model:
        raise CheckpointError("--model is empty: give a HuggingFace model id (like gpt2) or a folder")
    path = Path(model).expanduser()
    if path.exists():
        if not path.is_dir():
            raise CheckpointError(f"--model {model} is a file: give the folder that holds config.json and "
                                  "model.safetensors")
        folder = path.resolve()
    elif _looks_like_path(model):
        raise CheckpointError(f"no folder {model}: give a folder holding config.json and model.safetensors, "
                              "or a HuggingFace model id like gpt2")
    else:
        folder = _download(model)
    _require_safetensors(folder, model)
    return Checkpoint(model, folder, config_from_hf(_read_config(folder, model), model))


def _looks_like_path(model: str) -> bool:
    # HF ids are "name" or "owner/name"; anything else that doesn't exist was meant as a folder
    return model.startswith((".", "/", "~", "\\")) or model.count("/") > 1 or "\\" in model


def _download(repo_id: str) -> Path:
    """snapshot_download of the safetensors weights, config and tokenizer; a cached copy when offline."""
    try:
        from huggingface_hub import errors as hf_errors
        from huggingface_hub import snapshot_download
    except ImportError:  # pragma: no cover - a declared dependency
        raise CheckpointError(f"huggingface_hub is not installed, so {repo_id} can't be downloaded: "
                              f"install it, or {LOCAL_HINT}") from None
    try:
        folder = Path(snapshot_download(repo_id, allow_patterns=DOWNLOAD_PATTERNS))
    except hf_errors.GatedRepoError:
        raise CheckpointError(f"{repo_id} is gated on HuggingFace: accept its terms and log in "
                              f"(`huggingface-cli login`), or {LOCAL_HINT}") from None
    except hf_errors.RepositoryNotFoundError:
        raise CheckpointError(f"there is no model {repo_id} on HuggingFace (or it is private): check the id, "
                              f"or {LOCAL_HINT}") from None
    except hf_errors.RevisionNotFoundError:
        raise CheckpointError(f"{repo_id} has no main revision on HuggingFace; {LOCAL_HINT}") from None
    except (hf_errors.LocalEntryNotFoundError, hf_errors.OfflineModeIsEnabled):
        raise CheckpointError(f"{repo_id} is not in the HuggingFace cache and can't be downloaded (no network, "
                              f"or HF_HUB_OFFLINE is set): connect once to download it, or {LOCAL_HINT}") from None
    except (hf_errors.HfHubHTTPError, OSError) as exc:
        reason = " ".join(str(exc).split())[:200]
        raise CheckpointError(f"downloading {repo_id} failed ({reason}): {LOCAL_HINT}") from None
    if not _safetensors_files(folder):
        # Nothing matched the safetensors patterns: say why, when the repository's listing says.
        pickles = _remote_pickles(repo_id)
        if pickles:
            raise CheckpointError(_pickle_message(repo_id, pickles))
    return folder


def _remote_pickles(repo_id: str) -> list[str]:
    try:
        from huggingface_hub import list_repo_files

        return [f for f in list_repo_files(repo_id) if f.endswith(PICKLE_SUFFIXES)]
    except Exception:  # offline or unreachable: the local check below still explains what is missing
        return []


def _safetensors_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.safetensors"))


def _pickle_message(where: str, pickles: list[str]) -> str:
    names = ", ".join(sorted(Path(p).name for p in pickles)[:3])
    return (f"{where} has only a pickle checkpoint ({names}), and gpt2tutor loads only safetensors: "
            "unpickling a file can run any code inside it. Use a model that ships model.safetensors, or "
            "convert it where you trust it (save_pretrained(..., safe_serialization=True))")


def _require_safetensors(folder: Path, name: str) -> None:
    if _safetensors_files(folder):
        return
    pickles = [p.name for p in folder.iterdir() if p.suffix in PICKLE_SUFFIXES]
    if pickles:
        raise CheckpointError(_pickle_message(name, pickles))
    raise CheckpointError(f"{name} has no model.safetensors: the folder needs config.json, model.safetensors "
                          "and the tokenizer files")


def _read_config(folder: Path, name: str) -> dict:
    path = folder / CONFIG_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{name} has no config.json, which gives the model's sizes") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path} can't be read as JSON ({exc})") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path} is not a JSON object")
    return data


def config_from_hf(cfg: dict, name: str = "the model"):
    """Our GPT2Config from a HuggingFace GPT-2 config.json; anything else is refused."""
    model_type = cfg.get("model_type")
    if model_type != "gpt2":
        raise CheckpointError(f"{name} is a {model_type or 'model of unknown type'}, not a GPT-2: "
                              "only GPT-2 checkpoints (gpt2, distilgpt2, gpt2-medium, ...) fit this model")
    if cfg.get("scale_attn_by_inverse_layer_idx") or cfg.get("reorder_and_upcast_attn") \
            or cfg.get("scale_attn_weights") is False:
        raise CheckpointError(f"{name} uses an attention variant (scaling options in config.json) this GPT-2 "
                              "does not implement")
    activation = cfg.get("activation_function", "gelu_new")
    if activation not in ("gelu_new", "gelu_pytorch_tanh"):
        raise CheckpointError(f"{name} uses activation {activation!r}; this GPT-2's MLP is the tanh GELU "
                              "(gelu_new)")
    try:
        n_embd = int(cfg["n_embd"])
        n_inner = cfg.get("n_inner")
        config = by_role("config").reference().GPT2Config(
            vocab_size=int(cfg["vocab_size"]),
            n_positions=int(cfg["n_positions"]),
            n_embd=n_embd,
            n_layer=int(cfg["n_layer"]),
            n_head=int(cfg["n_head"]),
            n_inner=int(n_inner) if n_inner is not None else 4 * n_embd,
            layer_norm_epsilon=float(cfg.get("layer_norm_epsilon", 1e-5)),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{name}'s config.json lacks a usable GPT-2 size ({exc})") from None
    if config.n_embd % config.n_head:
        raise CheckpointError(f"{name}'s n_embd {config.n_embd} is not a multiple of n_head {config.n_head}")
    return config


def expected_shapes(config) -> dict[str, tuple[int, ...]]:
    """Every parameter of the reference GPT2LMHeadModel for `config`, by name, with its shape (built lazily:
    no weight is computed)."""
    from max.experimental import functional as F

    from ..checking.parameters import parameter_shapes

    with F.lazy():
        model = defining("GPT2LMHeadModel").reference().GPT2LMHeadModel(config)
    return parameter_shapes(model)


def read_safetensors(folder: Path) -> dict[str, np.ndarray]:
    """Every tensor of every safetensors file in `folder`, under the names the file gives."""
    try:
        from safetensors import safe_open
    except ImportError:  # pragma: no cover - a declared dependency
        raise CheckpointError("the safetensors package is not installed") from None
    raw: dict[str, np.ndarray] = {}
    for path in _safetensors_files(folder):
        try:
            with safe_open(str(path), framework="numpy") as f:
                for key in f.keys():
                    raw[key] = f.get_tensor(key)
        except Exception as exc:  # a truncated download, bfloat16 numpy can't hold, ...
            raise CheckpointError(f"{path.name} can't be read ({' '.join(str(exc).split())[:160]}): "
                                  "download it again, or save it in float32 or float16") from None
    return raw


def _require(found: dict[str, np.ndarray], shapes: dict[str, tuple[int, ...]], folder: Path) -> None:
    missing = [k for k in shapes if k not in found]
    if missing:
        raise CheckpointError(f"the checkpoint in {folder} lacks {missing[0]}"
                              + (f" and {len(missing) - 1} more" if len(missing) > 1 else "")
                              + ": is it a GPT-2 checkpoint?")
    for key, shape in shapes.items():
        if tuple(found[key].shape) != tuple(shape):
            raise CheckpointError(f"{key} in the checkpoint has shape {list(found[key].shape)}, but config.json "
                                  f"implies {list(shape)}")


def validate_hf(raw: dict[str, np.ndarray], folder: Path, config) -> None:
    """The checkpoint, as HF stores it, holds every parameter GPT2LMHeadModel needs for `config`: under its name
    with or without `transformer.`, HF's Conv1D weights [in, out] (the reference conversion's CONV1D), the head
    tied to wte when absent. No array is copied."""
    conversion = by_role("conversion").reference()
    plain = {k.removeprefix("transformer."): v for k, v in raw.items()}
    shapes = {}
    for name, shape in expected_shapes(config).items():
        if name == "lm_head.weight" and name not in plain:
            continue  # tied to wte: the conversion copies it
        key = name.removeprefix("transformer.")
        shapes[key] = shape[::-1] if name.endswith(conversion.CONV1D) else shape
    _require(plain, shapes, folder)


def validate(state: dict[str, np.ndarray], folder: Path, config) -> dict[str, np.ndarray]:
    """The converted weights GPT2LMHeadModel needs, each of the shape the config implies."""
    expected = expected_shapes(config)
    _require(state, expected, folder)
    return {k: state[k] for k in expected}
