"""`kproto.data.load_dataset` and `transform_rows`: one target (kproto.data.dataset) or several
(kproto.data.targets), chosen from the recipe or the fitted preprocessing."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from kproto.data import dataset as single
from kproto.data.targets import check_target_columns, target_arrays, targets_dataset
from kproto.recipe.targets import several

if TYPE_CHECKING:
    from kproto.data.preprocess import Preprocessor
    from kproto.data.types import Dataset
    from kproto.recipe.schema import Recipe


def load_dataset(
    recipe: Recipe,
    preprocessor: Preprocessor | None = None,
    adopt: Callable[[str], dict[str, Any] | None] | None = None,
) -> Dataset:
    """The recipe's seeded, preprocessed splits (kproto.data.dataset.load_dataset); with several targets, their
    targets are {name: array} (kproto.data.targets)."""
    if several(recipe):
        return targets_dataset(recipe, preprocessor, adopt)
    return single.load_dataset(recipe, preprocessor, adopt)


def transform_rows(
    pre: Preprocessor, frame: pd.DataFrame, need_target: bool, missing: str = "impute"
) -> tuple[np.ndarray, Any]:
    """Model inputs (and targets, when present and wanted) for raw rows of a new file; several targets: {name: y}."""
    if "targets" not in pre.state:
        return single.transform_rows(pre, frame, need_target, missing)
    pre.check_columns(frame, need_target=False, field="--data")
    names = [t["name"] for t in pre.state["targets"]]
    if need_target:
        check_target_columns(names, list(frame.columns))
    return pre.features(frame, missing), (target_arrays(pre, frame) if need_target else None)
