"""A MAX architecture package for GPT-2: what `max serve --custom-architectures` imports.

MAX reads `ARCHITECTURES` from this package and matches each entry's `name` against the
"architectures" list in the checkpoint's config.json; every GPT-2 checkpoint says
"GPT2LMHeadModel". The entry tells MAX which classes to use for the three jobs a served
model has:

- `config.GPT2ArchConfig` answers MAX's questions before any weights load: how long a
  sequence may be (GPT-2 has n_positions learned positions, no more) and how big a KV cache
  to plan (n_layer layers of n_head heads of head_dim numbers).
- `model.GPT2PipelineModel` turns a batch of requests into next-token logits: the one call
  MAX makes for every step of every request.
- MAX's own `TextTokenizer` turns text into token ids with the checkpoint's tokenizer files,
  and back.

Everything else (HTTP, the OpenAI request format, queues, batching, sampling, streaming) is
MAX's.
"""

from max.graph.weights import WeightsFormat
from max.pipelines.context import TextContext
from max.pipelines.context.exceptions import InputError
from max.pipelines.kv_cache.memory_planner import PagedMemoryPlanner
from max.pipelines.lib import SupportedArchitecture, TextTokenizer
from max.pipelines.modeling.types import PipelineTask

from .config import GPT2ArchConfig
from .model import GPT2PipelineModel


def leaves_room_to_generate(context: TextContext) -> None:
    """Refuses (HTTP 400) a request that can't generate a token: max_tokens 0, or a prompt filling the context.

    MAX 26.7 accepts max_tokens=0 and then samples one token anyway.
    """
    prompt = context.tokens.prompt_length
    if context.sampling_params.max_new_tokens == 0:
        raise InputError("max_tokens must be at least 1")
    if context.max_length <= prompt:
        raise InputError(f"the prompt ({prompt} tokens) fills the model's context: nothing is left to generate")


gpt2 = SupportedArchitecture(
    name="GPT2LMHeadModel",  # matches config.json's "architectures"
    task=PipelineTask.TEXT_GENERATION,
    example_repo_ids=["gpt2", "distilgpt2"],
    default_weights_format=WeightsFormat.safetensors,
    default_encoding=GPT2ArchConfig.DEFAULT_ENCODING,
    supported_encodings=GPT2ArchConfig.SUPPORTED_ENCODINGS,
    pipeline_model=GPT2PipelineModel,
    tokenizer=TextTokenizer,
    context_type=TextContext,
    config=GPT2ArchConfig,
    memory_planner=PagedMemoryPlanner,
    multi_gpu_supported=False,
    supports_overlap_scheduler=False,  # execute() reads logits on the host at every step
    context_validators=[leaves_room_to_generate],
)

ARCHITECTURES = [gpt2]
