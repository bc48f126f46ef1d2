"""`python -m kproto.cli`: the same as the `kproto` console script."""

from kproto.cli import main

main()
