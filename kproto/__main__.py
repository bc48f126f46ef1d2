"""python -m kproto."""

from kproto.cli import main

main()
