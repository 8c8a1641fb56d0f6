"""The tutor's own GPT-2 in MAX: one module per step, the answers the checks compare against.

Each file imports earlier steps relatively (``from .step_07 import ...``); `gpt2tutor solution NN`
prints it with the dot removed, which is exactly how an exercise imports the learner's own files.
"""
