"""Text to token ids and back with the checkpoint's own byte-level BPE tokenizer (HF's `tokenizers`, the Rust
library transformers' fast tokenizers wrap: the same ids, without importing transformers), and decoding for
a live stream."""

from __future__ import annotations

from pathlib import Path

from .checkpoint import CheckpointError


class Tokenizer:
    """The checkpoint folder's own tokenizer: tokenizer.json, else GPT-2's vocab.json and merges.txt."""

    def __init__(self, folder: Path, name: str):
        try:
            from tokenizers import Tokenizer as Rust
            from tokenizers import decoders, models, pre_tokenizers
        except ImportError:  # pragma: no cover - a dependency
            raise CheckpointError("the tokenizers package is not installed") from None
        try:
            if (folder / "tokenizer.json").is_file():
                self._tok = Rust.from_file(str(folder / "tokenizer.json"))
            elif (folder / "vocab.json").is_file() and (folder / "merges.txt").is_file():
                self._tok = Rust(models.BPE.from_file(str(folder / "vocab.json"), str(folder / "merges.txt")))
                self._tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
                self._tok.decoder = decoders.ByteLevel()
            else:
                raise CheckpointError(f"{name} has no tokenizer files (tokenizer.json, or vocab.json and merges.txt)")
        except CheckpointError:
            raise
        except Exception as exc:
            raise CheckpointError(f"the tokenizer in {name} can't be loaded "
                                  f"({' '.join(str(exc).split())[:160]})") from None

    def encode(self, text: str) -> list[int]:
        return list(self._tok.encode(text, add_special_tokens=False).ids)

    def decode(self, ids: list[int]) -> str:
        return self._tok.decode(list(ids), skip_special_tokens=False)


class StreamDecoder:
    """Turns a growing list of token ids into text pieces as they become printable.

    A byte-level BPE token can hold part of a UTF-8 character (an emoji spans several tokens), so
    the text is decoded from all the ids so far and held back while it ends in half a character.
    """

    def __init__(self, tokenizer: Tokenizer):
        self._tokenizer = tokenizer
        self._ids: list[int] = []
        self._shown = 0  # characters already returned

    def push(self, token_id: int) -> str:
        self._ids.append(token_id)
        text = self._tokenizer.decode(self._ids)
        if text.endswith("\ufffd"):
            return ""
        piece, self._shown = text[self._shown:], len(text)
        return piece

    def flush(self) -> str:
        text = self._tokenizer.decode(self._ids)
        piece, self._shown = text[self._shown:], len(text)
        return piece
