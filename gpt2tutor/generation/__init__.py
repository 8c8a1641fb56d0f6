"""Text generation for `gpt2tutor generate` and `gpt2tutor attention`; nothing here is imported by `--help`.

- checkpoint.py    a HuggingFace id or local folder -> config and weights (safetensors only, no pickle)
- tokenizer.py     transformers' GPT-2 tokenizer, and decoding for a live stream
- kv_model.py      the tutor's GPT-2 with a preallocated KV cache, compiled once (symbolic lengths)
- learner_model.py the learner's own pipeline (steps 01-14): their conversion, cached compile and generate_tokens
- sampling.py      temperature, top-k, top-p and seeded draws for the reference model
- loop.py          the cached generation loop, device choice and timings
- attention_map.py one head's attention weights, drawn as a terminal heatmap
"""
