"""Row selection a recipe can ask for: keep some classes, cap the training rows per class."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from kproto.errors import DataError


def keep_classes(frame: pd.DataFrame, target: str, classes: list[Any]) -> pd.DataFrame:
    """The rows whose target is one of `classes` (compared as text, so 5 matches a column of integers)."""
    wanted = {str(c) for c in classes}
    present = set(frame[target].dropna().astype(str).unique())
    missing = sorted(wanted - present)
    if missing:
        raise DataError(
            f"data.classes lists {', '.join(map(repr, missing))}, not found in the target column '{target}'",
            field="data.classes",
            hint=f"labels in the data: {', '.join(sorted(present)[:20])}",
        )
    return frame[frame[target].astype(str).isin(wanted)]


def rows_per_class(rows: np.ndarray, labels: np.ndarray, count: int, seed: int) -> np.ndarray:
    """At most `count` of `rows` for each label (a seeded sample, in the original order)."""
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels)[rows]
    kept = []
    for label in sorted(set(labels.tolist()), key=str):
        members = rows[labels == label]
        if len(members) > count:
            members = np.sort(rng.choice(members, size=count, replace=False))
        kept.append(members)
    return np.sort(np.concatenate(kept)) if kept else rows
