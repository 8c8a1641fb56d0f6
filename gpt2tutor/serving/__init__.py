"""Serving GPT-2 through MAX's own OpenAI-compatible server (`max serve`).

- `arch/` — the architecture package `max serve --custom-architectures` imports (and `serve --eject` copies).
- `models.py` — the GPT-2 behind it: the tutor's reference (KV-cached) or the learner's own.
- `launch.py` — starting `max serve` on loopback, waiting until it answers, stopping every process it started.
"""
