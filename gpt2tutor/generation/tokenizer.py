"""Text to token ids and back with transformers' GPT-2 tokenizer, and decoding for a live stream."""

from __future__ import annotations

from pathlib import Path

from .. import quiet
from .checkpoint import CheckpointError


class Tokenizer:
    """The checkpoint folder's own tokenizer (byte-level BPE for GPT-2); never remote code."""

    def __init__(self, folder: Path, name: str):
        if not any((folder / f).is_file() for f in ("tokenizer.json", "vocab.json")):
            raise CheckpointError(f"{name} has no tokenizer files (tokenizer.json, or vocab.json and merges.txt)")
        quiet.foreign_notices_off()  # before transformers is imported: no "PyTorch was not found"
        try:
            import transformers
            from transformers import AutoTokenizer

            transformers.logging.set_verbosity_error()  # no advice about unrelated settings on the terminal
            self._tok = AutoTokenizer.from_pretrained(str(folder), use_fast=True, trust_remote_code=False)
        except Exception as exc:
            raise CheckpointError(f"the tokenizer in {name} can't be loaded "
                                  f"({' '.join(str(exc).split())[:160]})") from None

    def encode(self, text: str) -> list[int]:
        return list(self._tok.encode(text, add_special_tokens=False))

    def decode(self, ids: list[int]) -> str:
        return self._tok.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)


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
