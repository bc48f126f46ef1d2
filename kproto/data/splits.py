"""Seeded train/validation/test splits: stratified for classification, in time order for series."""

from __future__ import annotations

import numpy as np

from kproto.core.errors import DataError


def split_indices(
    n_rows: int, validation: float, test: float, seed: int, labels: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Shuffled index arrays (train, validation, test); stratified by `labels` when given."""
    rng = np.random.default_rng(seed)
    if labels is None:
        groups = [rng.permutation(n_rows)]
    else:
        groups = [rng.permutation(np.flatnonzero(labels == value)) for value in np.unique(labels)]
    train, val, tst = [], [], []
    for members in groups:
        n_test = int(round(len(members) * test))
        n_val = int(round(len(members) * validation))
        if len(members) - n_test - n_val < 1 and len(members) > 0:
            n_val = max(0, n_val - 1) if n_val else 0
        tst.append(members[:n_test])
        val.append(members[n_test : n_test + n_val])
        train.append(members[n_test + n_val :])
    parts = [np.sort(np.concatenate(p)) for p in (train, val, tst)]
    parts = [rng.permutation(p) for p in parts]
    if len(parts[0]) == 0:
        raise DataError(
            f"the split leaves no training rows out of {n_rows}",
            field="data.split",
            hint="lower data.split.validation and data.split.test, or use more data",
        )
    return parts[0], parts[1], parts[2]


def time_order_bounds(n_rows: int, validation: float, test: float) -> tuple[int, int]:
    """Row positions where validation and test start, for a split kept in time order."""
    n_test = int(round(n_rows * test))
    n_val = int(round(n_rows * validation))
    train_end = n_rows - n_test - n_val
    if train_end <= 0:
        raise DataError(f"the split leaves no training rows out of {n_rows}", field="data.split")
    return train_end, train_end + n_val
