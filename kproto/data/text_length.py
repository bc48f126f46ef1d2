"""How many tokens a text model reads when the recipe does not set `data.sequence_length`: from the data.

The default is a high percentile of the training texts' token counts (whitespace-separated words, as the
tokenizer splits them), rounded up to a multiple of 8 and kept within [SHORTEST, LONGEST]: long enough that
95% of the texts are not truncated, short enough that a few very long texts do not make every batch slow.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

PERCENTILE = 95
SHORTEST = 16
LONGEST = 256
UNSET = 200  # the length when nothing is known about the texts (no text at all)


def token_counts(texts: Iterable[object]) -> np.ndarray:
    """Whitespace-separated tokens of each non-missing text."""
    return np.array([len(str(t).split()) for t in texts if t is not None and t == t], dtype=np.int64)


def length_from_texts(texts: Iterable[object]) -> tuple[int, str]:
    """The sequence length for `texts` and a sentence saying where it came from (recorded and printed)."""
    counts = token_counts(texts)
    if len(counts) == 0:
        return UNSET, f"no texts to measure: the default {UNSET}"
    high = float(np.percentile(counts, PERCENTILE))
    length = int(min(LONGEST, max(SHORTEST, math.ceil(high / 8) * 8)))
    return length, (
        f"from the data: {PERCENTILE}th percentile of the training texts' word counts is {high:g}, "
        f"rounded up to a multiple of 8 within [{SHORTEST}, {LONGEST}]"
    )
