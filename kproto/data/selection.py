"""Row selection a recipe can ask for: keep some classes, cap the training rows per class."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from kproto.core.errors import DataError


def keep_classes(frame: pd.DataFrame, target: str, classes: list[Any]) -> pd.DataFrame:
    """The rows whose target is one of `classes` (compared as text, so 5 matches a column of integers)."""
    if not target:
        raise DataError("data.classes needs a target column", field="data.classes", hint="set data.target")
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
    if labels is None:
        raise DataError(
            "data.rows_per_class needs a classification target", field="data.rows_per_class", hint="set data.target"
        )
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels)[rows]
    kept = []
    for label in sorted(set(labels.tolist()), key=str):
        members = rows[labels == label]
        if len(members) > count:
            members = np.sort(rng.choice(members, size=count, replace=False))
        kept.append(members)
    return np.sort(np.concatenate(kept)) if kept else rows


def balance_rows(rows: np.ndarray, labels: np.ndarray | None, mode: str, seed: int) -> np.ndarray:
    """`rows` with equal counts per label: `oversample` draws extra rows of the smaller classes (with
    replacement) up to the largest class, `undersample` keeps a seeded sample the size of the smallest class."""
    if mode == "none":
        return rows
    if labels is None:
        raise DataError(
            f"data.balance: {mode} needs a classification target",
            field="data.balance",
            hint="set data.target to a class column, or remove data.balance",
        )
    rng = np.random.default_rng(seed)
    present = np.asarray(labels)[rows]
    groups = [rows[present == label] for label in sorted(set(present.tolist()), key=str)]
    if not groups:
        return rows
    sizes = [len(g) for g in groups]
    kept = []
    for members in groups:
        if mode == "oversample":
            extra = rng.choice(members, size=max(sizes) - len(members), replace=True)
            kept.append(np.concatenate([members, extra]))
        else:
            kept.append(rng.choice(members, size=min(sizes), replace=False))
    return np.sort(np.concatenate(kept))
