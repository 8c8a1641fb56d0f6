"""The one call MAX makes at every step: a batch of requests in, next-token logits out.

MAX's scheduler puts up to --max-batch-size requests into one step. For each it hands us a
context holding every token so far (the prompt, then each token MAX sampled); we return one row
of logits per request, [batch, vocab_size], and MAX samples the next tokens from them itself
(greedy at temperature 0, else with the request's temperature, top_k and top_p).

MAX also plans and allocates a paged KV cache for us (see config.py). Our GPT-2 does not read
it: the model behind it keeps caches of its own (see gpt2tutor/serving/models.py): one batch
for all requests, answered in one call of the batched model, or one cache per request. So each
request's whole token list travels to `next_token_logits`, which feeds the model only what its
cache lacks, and `release` tells the model when a request is finished.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from max.driver import CPU, Buffer
from max.nn.transformer import ReturnHiddenStates, ReturnLogits
from max.pipelines.lib.interfaces.pipeline_model import ModelInputs, ModelOutputs, PipelineModelWithKVCache

from gpt2tutor.serving.models import load_served_model

from .config import GPT2ArchConfig


@dataclass(kw_only=True)
class GPT2Inputs(ModelInputs):
    """One step's batch: each request's id and all of its tokens so far."""

    requests: list[tuple[object, np.ndarray]] = field(default_factory=list)


class GPT2PipelineModel(PipelineModelWithKVCache):
    model_config_cls = GPT2ArchConfig

    def __init__(self, pipeline_config, session, devices, kv_cache_config, weights, adapter=None,
                 return_logits=ReturnLogits.LAST_TOKEN, *, memory_plan,
                 return_hidden_states=ReturnHiddenStates.NONE, max_batch_size: int = 1) -> None:
        super().__init__(pipeline_config=pipeline_config, session=session, devices=devices,
                         kv_cache_config=kv_cache_config, weights=weights, adapter=adapter,
                         return_logits=return_logits, return_hidden_states=return_hidden_states,
                         memory_plan=memory_plan, max_batch_size=max_batch_size)
        # MAX has opened the checkpoint's safetensors as `weights`; we read the same folder with the
        # tutor's loader instead, which converts HF's names and layouts to GPT2LMHeadModel's.
        self.device = devices[0]
        self.gpt2 = load_served_model(str(pipeline_config.model.model_path), self.device)

    def _prepare_initial_token_inputs(self, replica_batches, kv_cache_inputs=None, return_n_logits=1) -> GPT2Inputs:
        requests = []
        for batch in replica_batches:
            for ctx in batch:
                tokens = ctx.tokens
                # every token up to the end of this step's window: prompt, then what was sampled
                requests.append((ctx.request_id, np.array(tokens.array[:tokens.current_position], dtype=np.int64)))
        return GPT2Inputs(requests=requests, kv_cache_inputs=kv_cache_inputs)

    def execute(self, model_inputs: GPT2Inputs) -> ModelOutputs:
        rows = self.gpt2.next_token_logits(model_inputs.requests)  # [batch, vocab]: one call for the whole batch
        logits = Buffer.from_numpy(np.ascontiguousarray(rows, dtype=np.float32))
        if not isinstance(self.device, CPU):
            logits = logits.to(self.device)
        return ModelOutputs(logits=logits, next_token_logits=logits)

    def release(self, request_id) -> None:
        """MAX is done with this request (finished, or its client went away)."""
        self.gpt2.release(request_id)
