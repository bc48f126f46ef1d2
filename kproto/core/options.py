"""Options that travel together from the command line to the code that uses them, bundled once.

Plain frozen dataclasses, importable without NumPy or Keras so that the CLI can build them while parsing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal


@dataclass(frozen=True)
class DecodingOptions:
    """How a seq2seq run generates text: a beam search of width `beam` (1: greedy search) and at most `max_length`
    tokens per text. None leaves the choice to the run (its model.beam, its longest training target)."""

    beam: int | None = None
    max_length: int | None = None

    def resolved(self, saved: dict[str, Any]) -> DecodingOptions:
        """These options with the run's own choices (`decoding` in its preprocessing state) filling the gaps."""
        return DecodingOptions(self.beam or int(saved.get("beam", 1)), self.max_length or saved.get("max_length"))


@dataclass(frozen=True)
class AttackOptions:
    """An adversarial attack for `kproto evaluate --attack`: the method, its radius in the model's input space and
    the PGD steps (None: the method's default). `method` None means no attack."""

    method: Literal["fgsm", "pgd"] | None = None
    epsilon: float | None = None
    steps: int | None = None
