"""The names the tutor goes by outside Python: its command, and the environment variables it reads.

One home, so that a variable the help mentions is the one the code reads. It imports nothing: the command
line's `--help` loads it without loading the tutor.
"""

PROG = "gpt2tutor"

WORKSPACE_ENV = "GPT2TUTOR_WORKSPACE"  # the workspace, when --workspace is not given
TIMEOUT_ENV = "GPT2TUTOR_TIMEOUT"  # seconds one step's checks may take
SEED_ENV = "GPT2TUTOR_SEED"  # fixes the checks' random weights and inputs
DEVICE_ENV = "GPT2TUTOR_DEVICE"  # "gpu": `check --device gpu` runs the learner's code on the GPU
ONE_LOOP_ENV = "GPT2TUTOR_ONE_LOOP"  # "0": MAX's own asyncio.run per eager op (benchmarks compare the two)
DEBUG_ENV = "GPT2TUTOR_DEBUG"  # "1": an internal error shows its traceback
KERNELS_ENV = "GPT2TUTOR_KERNELS"  # "0": no kernel batches, no background process (MAX's own behaviour)
BACKGROUND_ENV = "GPT2TUTOR_BACKGROUND"  # "0": batches compiled already are used, but no background process
STATE_DIR_ENV = "GPT2TUTOR_STATE_DIR"  # where the tutor's own files for a MAX cache go
GRAPHS_ENV = "GPT2TUTOR_GRAPHS"  # "0": no background compile of the learner's model
GRAPH_SIZES_ENV = "GPT2TUTOR_GRAPH_SIZES"  # JSON sizes to compile the learner's model at instead of GPT-2 124M's
SERVE_MODEL_ENV = "GPT2TUTOR_SERVE_MODEL"  # `max serve`'s model: "reference" or "learner"
SERVE_EXERCISES_ENV = "GPT2TUTOR_SERVE_EXERCISES"  # the learner's exercises folder, for "learner"
SERVE_BATCHED_ENV = "GPT2TUTOR_SERVE_BATCHED"  # "0": the request-by-request model, "1" (default) the batched one
