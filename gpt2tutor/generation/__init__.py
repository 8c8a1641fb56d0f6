"""Text generation for `gpt2tutor generate`, `serve` and `attention`; nothing here is imported by `--help`.

- checkpoint.py    a HuggingFace id or local folder -> config and weights (safetensors only, no pickle)
- tokenizer.py     the checkpoint's byte-level BPE tokenizer (HF's tokenizers), and decoding for a live stream
- pipeline.py      the course's pipeline, from the learner's files or the reference solutions: their
                   conversion, their cached model compiled by load_cached_gpt2, their generate_tokens
- sampling.py      the sampling settings, and top-p (the one filter the course leaves out)
- attention_map.py one head's attention weights, from the reference model
"""
