"""Every request in flight answered by one call of the batched model (the batched_model role, step 15).

The batch is one cache for all rows: a key and a value [rows, n_head, past, head_dim] per block, and a mask
[rows, past] saying which slots of each row hold a real token. A step's requests are rows of it; a row MAX
did not put into this step gets only padding, so its cache is left as it was. A request that joins (or starts
over) is read first in a call of its own with the others that join, so the running rows are not padded to a
prompt's width; then the batch is rebuilt here in NumPy: the rows no request holds dropped, the joined ones
added, each row's real slots moved to the right end (left padding), the slots no row uses dropped. Moving
cached slots is allowed because a cached key carries its position already: attention looks at the mask, not
at where a slot sits.
"""

from __future__ import annotations

import numpy as np

WASTE = 2.0  # rebuild when the cache is this many times longer than the longest row's real tokens ...
SLACK = 32  # ... and longer by this many slots at least
AGREEMENT = 1e-3  # the largest logit difference from GPT-2's trusted, times 1 + the largest logit (GPU included)


class BatchedGPT2:
    """A pipeline's compiled batched GPT-2 holding the checkpoint's weights, and the batch of its requests."""

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
        self._agrees_with_hf(config, hf_weights)
        self.rows: list = []  # the request each row holds, None for a row no request holds any more
        self.seen: list[np.ndarray] = []  # the tokens each row's cache holds
        self._past: list | None = None  # (key, value) per block, on the device
        self._mask = None  # [rows, past] int64, on the device

    def _agrees_with_hf(self, config, hf_weights: dict[str, np.ndarray]) -> None:
        """A compiled graph is trusted once its numbers were compared: a ragged batch (prompts of 1 and 3
        tokens), then a token each, against the checks' NumPy GPT-2 on the same weights, each row alone (MAX's
        server runs no eager op: its worker may not start the processes that compile them)."""
        from ..checking.numpy_gpt2 import lm_logits
        from ..generation.pipeline import LearnerCodeError, reference_code

        past, mask = self._empty(2)
        got = []
        for fed in ([np.array([5]), np.array([7, 11, 13])], [np.array([17]), np.array([19])]):
            logits, past, mask = self._call(fed, past, mask)
            got.append(logits.astype(np.float64))
        ours = reference_code().role("conversion").convert_hf_state_dict(dict(hf_weights))
        ours = {k: v.astype(np.float64) for k, v in ours.items()}  # once: lm_logits would copy it per call
        rows = [lm_logits(ours, np.array([[5, 17]]), config)[0], lm_logits(ours, np.array([[7, 11, 13, 19]]), config)[0]]
        want = [np.stack([rows[0][0], rows[1][2]]), np.stack([rows[0][1], rows[1][3]])]
        worst = max(float(np.abs(g - w).max()) for g, w in zip(got, want))
        scale = 1 + max(float(np.abs(w).max()) for w in want)
        if not worst <= AGREEMENT * scale:  # NaN included
            raise LearnerCodeError(f"{self.code.whose}'s compiled GPT2BatchedLMHeadModel gives logits that differ by "
                                   f"up to {worst:.3g} from GPT-2's, row by row, on a ragged batch: the graph can't "
                                   "be trusted (an F.where mask, or a branch on a dim decided when tracing?)")

    def next_token_logits(self, requests: list[tuple[object, np.ndarray]]) -> np.ndarray:
        """Each request's every token so far in, its next-token logits out: [len(requests), vocab_size].

        Requests new to the batch (or starting over) are read in a call of their own, so the running ones are
        not padded to a prompt's width; then they join the batch, and the running ones take their step."""
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
        joined = None
        if fresh:
            past, mask = self._empty(len(fresh))
            logits, past, mask = self._call([t for _, t in fresh], past, mask)
            found.update(zip((r for r, _ in fresh), logits))
            joined = ([r for r, _ in fresh], [t for _, t in fresh], past, mask)
        longest = max((len(s) for r, s in zip(self.rows, self.seen) if r is not None), default=0)
        if joined or None in self.rows or self._past_len > WASTE * longest + SLACK:
            self._rebuild(joined)
        if running:
            fed = [None] * len(self.rows)  # rows not in this step are fed padding: their caches stay as they were
            for request_id, _, new in running:
                fed[self.rows.index(request_id)] = new
            logits, self._past, self._mask = self._call(fed, self._past, self._mask)
            for request_id, tokens, _ in running:
                row = self.rows.index(request_id)
                found[request_id] = logits[row]
                self.seen[row] = tokens
        return np.stack([found[request_id] for request_id, _ in requests])

    @property
    def _past_len(self) -> int:
        """The batch's cache length, padding included."""
        return 0 if self._mask is None else int(self._mask.shape[1])

    def release(self, request_id) -> None:
        """MAX is done with this request: its row goes at the next rebuild."""
        if request_id in self.rows:
            self.rows[self.rows.index(request_id)] = None

    def _call(self, fed: list, past, mask):
        """One call of the model: each row's new tokens (None: none), padding first. (logits [rows, vocab] as
        NumPy, the extended cache, the extended mask)."""
        from max.driver import CPU

        width = max(len(f) for f in fed if f is not None)
        ids = np.zeros((len(fed), width), np.int64)
        real = np.zeros((len(fed), width), np.int64)
        for row, f in enumerate(fed):
            if f is not None:
                ids[row, width - len(f):] = f
                real[row, width - len(f):] = 1
        try:
            logits, past, mask = self._run(self._tensor(ids), self._tensor(real), past, mask)
        except Exception as exc:
            raise self.code.failure(exc, "running your compiled GPT2BatchedLMHeadModel") from None
        return np.asarray(logits.to(CPU()).to_numpy()), past, mask

    def _empty(self, rows: int) -> tuple:
        n_head, head_dim = self._head
        empty = np.zeros((rows, n_head, 0, head_dim), np.float32)
        return [(self._tensor(empty), self._tensor(empty)) for _ in range(self._n_layer)], \
            self._tensor(np.zeros((rows, 0), np.int64))

    def _rebuild(self, joined) -> None:
        """The batch again: the rows no request holds dropped, the `joined` requests' rows (ids, tokens, and
        the cache and mask of the call that read them) added, each row's real slots packed to the right."""
        from max.driver import CPU

        def host(t):
            return np.asarray(t.to(CPU()).to_numpy())

        kept = [i for i, r in enumerate(self.rows) if r is not None]
        parts = []  # (mask [rows, len], [(key, value) [rows, h, len, d]] per block) of each source
        if kept and self._past is not None:
            parts.append((host(self._mask)[kept], [tuple(host(t)[kept] for t in pair) for pair in self._past]))
        if joined is not None:
            parts.append((host(joined[3]), [tuple(host(t) for t in pair) for pair in joined[2]]))
        slots = [np.flatnonzero(m) for mask, _ in parts for m in mask]
        length = max((len(s) for s in slots), default=0)
        n_head, head_dim = self._head
        rows = len(slots)
        new_mask = np.zeros((rows, length), np.int64)
        past = [[np.zeros((rows, n_head, length, head_dim), np.float32) for _ in range(2)]
                for _ in range(self._n_layer)]
        row = 0
        for mask, cache in parts:
            for i in range(len(mask)):
                s = slots[row]
                new_mask[row, length - len(s):] = 1
                for block, pair in enumerate(cache):
                    for j in range(2):
                        past[block][j][row, :, length - len(s):] = pair[j][i][:, s]
                row += 1
        self.rows = [self.rows[i] for i in kept] + (joined[0] if joined else [])
        self.seen = [self.seen[i] for i in kept] + (list(joined[1]) if joined else [])
        self._past = [(self._tensor(k), self._tensor(v)) for k, v in past]
        self._mask = self._tensor(new_mask)

    def _tensor(self, array: np.ndarray):
        from max.experimental.tensor import Tensor

        return Tensor.from_dlpack(np.ascontiguousarray(array)).to(self.device)
