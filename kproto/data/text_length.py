"""How many tokens a text model reads when the recipe does not set `data.sequence_length`: from the data.

The default is a high percentile of the training texts' token counts (as data.text_standardize cuts them; the
Keras rule of older runs counts whitespace-separated words), rounded up to a multiple of 8 and kept within [SHORTEST, LONGEST]: long enough that
95% of the texts are not truncated, short enough that a few very long texts do not make every batch slow.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from kproto.data.tokenizer import KEEP_PUNCTUATION, STRIP_PUNCTUATION, token_count

PERCENTILE = 95
SHORTEST = 16
LONGEST = 256
UNSET = 200  # the length when nothing is known about the texts (no text at all)


def token_counts(texts: Iterable[object], rule: str = KEEP_PUNCTUATION) -> np.ndarray:
    """The tokens of each non-missing text under `rule` (one of catalog.TEXT_STANDARDIZE)."""
    return np.array([token_count(str(t), rule) for t in texts if t is not None and t == t], dtype=np.int64)


def length_from_texts(texts: Iterable[object], rule: str = KEEP_PUNCTUATION) -> tuple[int, str]:
    """The sequence length for `texts` and a sentence saying where it came from (recorded and printed)."""
    counts = token_counts(texts, rule)
    if len(counts) == 0:
        return UNSET, f"no texts to measure: the default {UNSET}"
    high = float(np.percentile(counts, PERCENTILE))
    unit = "word" if rule == STRIP_PUNCTUATION else "token"
    length = int(min(LONGEST, max(SHORTEST, math.ceil(high / 8) * 8)))
    return length, (
        f"from the data: {PERCENTILE}th percentile of the training texts' {unit} counts is {high:g}, "
        f"rounded up to a multiple of 8 within [{SHORTEST}, {LONGEST}]"
    )
