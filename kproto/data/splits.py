"""Seeded train/validation/test splits: stratified for classification, in time order for series."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kproto.core.errors import DataError

if TYPE_CHECKING:
    import numpy as np


def split_indices(
    n_rows: int, validation: float, test: float, seed: int, labels: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Shuffled index arrays (train, validation, test); stratified by `labels` when given."""
    import numpy as np  # here, so that the audit's rules reach min_rows_per_split without NumPy

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


def min_rows_per_split(validation: float, test: float) -> int:
    """The fewest rows a class needs to have at least one in training and in each held-out split."""
    for n in range(1, 1000):
        n_test, n_val = int(round(n * test)), int(round(n * validation))
        if (n_test >= 1 or test == 0) and (n_val >= 1 or validation == 0) and n - n_test - n_val >= 1:
            return n
    return 1000


def check_held_out(
    rows: int, validation: float, test: float, n_val: int, n_test: int, labels: np.ndarray | None = None
) -> None:
    """Refuse a split that leaves 0 rows in a held-out part the recipe asks for, saying why (tiny classes)."""
    empty = [name for name, share, n in (("validation", validation, n_val), ("test", test, n_test)) if share and not n]
    if not empty:
        return
    reason, hint = f"{rows} rows are too few for these shares", "use more rows or larger data.split shares"
    if labels is not None:
        import numpy as np

        values, counts = np.unique(labels, return_counts=True)
        need = min_rows_per_split(validation, test)
        tiny = int(np.sum(counts < need))
        if tiny:
            reason = (
                f"the split is stratified by class, and {tiny} of {len(values)} classes have fewer than {need} rows, "
                "so their rows all stay in training"
            )
            hint = (
                "keep the larger classes with data.classes: [...], merge rare classes in the file, or predict a "
                "coarser target (kproto inspect FILE --target T lists the class counts)"
            )
    raise DataError(
        f"the split leaves 0 {' and 0 '.join(empty)} rows out of {rows}: {reason}; no honest held-out score could "
        "be given",
        field="data.split",
        hint=hint,
    )
