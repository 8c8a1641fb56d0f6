"""`python -m gpt2tutor`: the same command line as `gpt2tutor`."""

from gpt2tutor.cli import main

main()
