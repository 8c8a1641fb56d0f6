"""Every request in flight answered by one call of the batched model (the batched_model role, step 15).

The cache is kept here, not in the model: per block, a key and a value [rows, n_head, capacity, head_dim] in
NumPy, and how many slots of each row hold its tokens. A row's tokens fill its first slots; the rest is padding
(past_mask 0). The model reads the cache (on the CPU MAX takes the arrays as they are, without a copy) and
returns only the new tokens' keys and values, which are written into each row's next slots: a step copies no
cache. A step's requests are rows; a row MAX did not put into this step is fed only padding, and nothing is
written for it. A request that joins (or starts over) is read first in a call of its own with the others that
join, so the running rows are not padded to a prompt's width, and then takes a row. The capacity doubles when a
row would outgrow it and halves when every row fits in a quarter of it; rows no request holds are dropped at the
next step.
"""

from __future__ import annotations

import numpy as np

SMALLEST = 16  # the least capacity, in slots a row
AGREEMENT = 1e-3  # the largest logit difference from GPT-2's trusted, times 1 + the largest logit (GPU included)


class BatchedGPT2:
    """A pipeline's compiled batched GPT-2 holding the checkpoint's weights, and the cache of its requests."""

    def __init__(self, code, config, hf_weights: dict[str, np.ndarray], device):
        from ..generation.pipeline import model_sizes

        self.code = code
        self.device = device
        self._n_layer = config.n_layer
        self._head = (config.n_head, config.n_embd // config.n_head)
        try:
            their_config = code.role("config").GPT2Config(**model_sizes(config))
            self._run = code.role("batched_model").load_batched_gpt2(their_config, hf_weights, device=device)
        except Exception as exc:
            raise code.failure(exc, "loading and compiling your batched model (load_batched_gpt2)") from None
        self._clear()
        self._agrees_with_hf(config, hf_weights)
        self._clear()

    def _clear(self) -> None:
        self.rows: list = []  # the request each row holds, None for a row no request holds any more
        self.seen: list[np.ndarray] = []  # the tokens each row's cache holds
        self._used = np.zeros(0, np.int64)  # how many slots of each row hold its tokens: its first ones
        self._cache = self._blank(0, SMALLEST)  # [key, value] per block, [rows, n_head, capacity, head_dim]

    def _agrees_with_hf(self, config, hf_weights: dict[str, np.ndarray]) -> None:
        """A compiled graph is trusted once its numbers were compared: two requests of 1 and 3 tokens join, then
        take a token each, against the checks' NumPy GPT-2 on the same weights, each alone (MAX's server runs no
        eager op: its worker may not start the processes that compile them)."""
        from ..checking.numpy_gpt2 import lm_logits
        from ..generation.pipeline import LearnerCodeError, reference_code

        prompts, later = [np.array([5]), np.array([7, 11, 13])], [17, 19]
        got = [self.next_token_logits(list(enumerate(prompts))),
               self.next_token_logits([(i, np.append(p, t)) for i, (p, t) in enumerate(zip(prompts, later))])]
        ours = reference_code().role("conversion").convert_hf_state_dict(dict(hf_weights))
        ours = {k: v.astype(np.float64) for k, v in ours.items()}  # once: lm_logits would copy it per call
        rows = [lm_logits(ours, np.append(p, t)[None], config)[0] for p, t in zip(prompts, later)]
        want = [np.stack([r[-2] for r in rows]), np.stack([r[-1] for r in rows])]
        worst = max(float(np.abs(g.astype(np.float64) - w).max()) for g, w in zip(got, want))
        scale = 1 + max(float(np.abs(w).max()) for w in want)
        if not worst <= AGREEMENT * scale:  # NaN included
            raise LearnerCodeError(f"{self.code.whose}'s compiled GPT2BatchedLMHeadModel gives logits that differ by "
                                   f"up to {worst:.3g} from GPT-2's, row by row, on a ragged batch: the graph can't "
                                   "be trusted (an F.where mask, or a branch on a dim decided when tracing?)")

    def next_token_logits(self, requests: list[tuple[object, np.ndarray]]) -> np.ndarray:
        """Each request's every token so far in, its next-token logits out: [len(requests), vocab_size].

        Requests new to the batch (or starting over) are read in a call of their own, so the running ones are
        not padded to a prompt's width; then they take rows, and the running ones take their step."""
        found: dict = {}  # request id -> its logits
        fresh, running = [], []
        for request_id, tokens in requests:
            row = self.rows.index(request_id) if request_id in self.rows else None
            seen = self.seen[row] if row is not None else tokens[:0]
            if row is None or len(seen) >= len(tokens) or not np.array_equal(tokens[:len(seen)], seen):
                if row is not None:
                    self.rows[row] = None  # changed: it starts over in a row of its own
                fresh.append((request_id, tokens))
            else:
                running.append((request_id, tokens, tokens[len(seen):]))
        if None in self.rows:
            self._keep([i for i, r in enumerate(self.rows) if r is not None])
        if fresh:
            fed = [t for _, t in fresh]
            logits, new = self._call(fed, self._blank(len(fed), 1), np.zeros(len(fed), np.int64))
            found.update(zip((r for r, _ in fresh), logits))
            self._join([r for r, _ in fresh], fed, new)
        if running:
            fed = [None] * len(self.rows)  # rows not in this step are fed padding: nothing is written for them
            for request_id, _, new_tokens in running:
                fed[self.rows.index(request_id)] = new_tokens
            self._fit(max(int(u) + (0 if f is None else len(f)) for u, f in zip(self._used, fed)))
            logits, new = self._call(fed, self._cache, self._used)
            self._write(0, fed, new)
            for request_id, tokens, _ in running:
                row = self.rows.index(request_id)
                found[request_id] = logits[row]
                self.seen[row] = tokens
        return np.stack([found[request_id] for request_id, _ in requests])

    def release(self, request_id) -> None:
        """MAX is done with this request: its row goes at the next step."""
        if request_id in self.rows:
            self.rows[self.rows.index(request_id)] = None

    def _call(self, fed: list, cache: list, used: np.ndarray) -> tuple[np.ndarray, list]:
        """One call of the model over `cache` (each row's first `used` slots real): each row's new tokens (None:
        none), padding first. (logits [rows, vocab], the new tokens' [key, value] per block [rows, n_head, width,
        head_dim]), in NumPy."""
        from max.driver import CPU

        width = max(len(f) for f in fed if f is not None)
        ids = np.zeros((len(fed), width), np.int64)
        real = np.zeros((len(fed), width), np.int64)
        for row, f in enumerate(fed):
            if f is not None:
                ids[row, width - len(f):] = f
                real[row, width - len(f):] = 1
        past_mask = (np.arange(cache[0][0].shape[2]) < used[:, None]).astype(np.int64)
        past = [(self._tensor(k), self._tensor(v)) for k, v in cache]
        try:
            logits, new = self._run(self._tensor(ids), self._tensor(real), past, self._tensor(past_mask))
            host = [[np.asarray(t.to(CPU()).to_numpy()) for t in pair] for pair in new]
        except Exception as exc:
            raise self.code.failure(exc, "running your compiled GPT2BatchedLMHeadModel") from None
        return np.asarray(logits.to(CPU()).to_numpy()), host

    def _write(self, first: int, fed: list, new: list) -> None:
        """Row first + i's new tokens' keys and values (the last len(fed[i]) columns of `new`'s row i) into its
        next free slots, for each fed row."""
        for i, f in enumerate(fed):
            if f is None:
                continue
            row, n = first + i, len(f)
            start = int(self._used[row])
            for pair, new_pair in zip(self._cache, new):
                for slots, fresh in zip(pair, new_pair):
                    slots[row, :, start:start + n] = fresh[i, :, fresh.shape[2] - n:]
            self._used[row] = start + n

    def _join(self, ids: list, tokens: list, new: list) -> None:
        """New rows for the requests `ids`, holding their tokens' keys and values (`new`, from the call that
        read them)."""
        first = len(self.rows)
        self._fit(max([len(t) for t in tokens] + [int(u) for u in self._used]))
        more = self._blank(len(ids), self._capacity)
        self._cache = [[np.concatenate([a, b]) for a, b in zip(pair, extra)] for pair, extra in zip(self._cache, more)]
        self._used = np.concatenate([self._used, np.zeros(len(ids), np.int64)])
        self.rows += list(ids)
        self.seen += list(tokens)
        self._write(first, list(tokens), new)

    def _keep(self, kept: list[int]) -> None:
        """Only the rows `kept`, in that order."""
        self._cache = [[a[kept] for a in pair] for pair in self._cache]
        self._used = self._used[kept]
        self.rows = [self.rows[i] for i in kept]
        self.seen = [self.seen[i] for i in kept]

    @property
    def _capacity(self) -> int:
        return int(self._cache[0][0].shape[2])

    def _fit(self, need: int) -> None:
        """A capacity that holds `need` slots a row: doubled when short, halved while a quarter would do."""
        capacity = self._capacity
        while capacity < need:
            capacity *= 2
        while capacity > SMALLEST and 4 * need <= capacity:
            capacity //= 2
        if capacity != self._capacity:
            keep = min(capacity, self._capacity)
            bigger = self._blank(len(self.rows), capacity)
            for pair, old in zip(bigger, self._cache):
                for a, b in zip(pair, old):
                    a[:, :, :keep] = b[:, :, :keep]
            self._cache = bigger

    def _blank(self, rows: int, capacity: int) -> list:
        n_head, head_dim = self._head
        return [[np.zeros((rows, n_head, capacity, head_dim), np.float32) for _ in range(2)]
                for _ in range(self._n_layer)]

    def _tensor(self, array: np.ndarray):
        from max.experimental.tensor import Tensor

        return Tensor.from_dlpack(np.ascontiguousarray(array)).to(self.device)
