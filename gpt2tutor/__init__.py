"""gpt2tutor: build GPT-2 from scratch in Modular MAX, one checked step at a time."""

__version__ = "0.1.0"

MAX_PIN = "26.7"  # the MAX minor version the lessons, skeletons and checks are written against
