"""The generation loop for the tutor's cached model, the device choice, and how generation is timed.

Timings: the clock starts when the prompt goes in (after compiling and loading); time to first
token is when the first new token is known; tokens per second counts the tokens after the first
over the time after the first, i.e. the steady one-token-at-a-time rate, which the prompt's
length does not change.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .sampling import Sampler, SamplingSettings


class DeviceUnavailable(Exception):
    """The asked-for device doesn't exist here; the message is one line."""


def pick_device(name: str):
    """max.driver's device for --device cpu|gpu."""
    from max import driver

    if name == "cpu":
        return driver.CPU()
    if driver.accelerator_count() == 0:
        raise DeviceUnavailable("--device gpu: no GPU (accelerator) is available to MAX on this machine; "
                                "use --device cpu")
    return driver.Accelerator()


@dataclass
class Timings:
    start: float = field(default_factory=time.perf_counter)
    token_times: list[float] = field(default_factory=list)

    def mark(self) -> None:
        self.token_times.append(time.perf_counter())

    @property
    def time_to_first_token_s(self) -> float | None:
        return self.token_times[0] - self.start if self.token_times else None

    @property
    def total_s(self) -> float:
        return (self.token_times[-1] if self.token_times else time.perf_counter()) - self.start

    @property
    def tokens_per_s(self) -> float | None:
        """Tokens after the first, per second after the first (1/ttft when there is only one)."""
        n = len(self.token_times)
        if n == 0:
            return None
        if n == 1:
            return 1.0 / max(self.token_times[0] - self.start, 1e-9)
        return (n - 1) / max(self.token_times[-1] - self.token_times[0], 1e-9)


def generate_cached(model, prompt_ids: list[int], max_new_tokens: int, settings: SamplingSettings,
                    on_token: Callable[[int], None] = lambda token: None) -> tuple[list[int], Timings]:
    """Generates with kv_model.CompiledGPT2: the prompt in one call, then one call per token.

    Greedy takes the argmax the graph computed; sampling draws from the returned logits.
    """
    cache = model.new_cache(len(prompt_ids) + max_new_tokens)
    sample = Sampler(settings)
    timings = Timings()
    new: list[int] = []
    greedy_next, logits = model.step(cache, prompt_ids)  # prefill: every prompt position at once
    while True:
        token = greedy_next if settings.greedy else sample(logits)
        new.append(token)
        timings.mark()
        on_token(token)
        if len(new) == max_new_tokens:
            return new, timings
        greedy_next, logits = model.step(cache, [token])  # only the new token goes in
