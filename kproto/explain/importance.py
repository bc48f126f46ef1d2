"""Global permutation importance on the original columns (Breiman 2001; Fisher et al. 2019).

A column's importance is how much the score gets worse (an accuracy drops, an error rises) when that raw column is
shuffled and the rows are preprocessed again: a one-hot encoded string column is shuffled as one feature. Each column
is shuffled `repeats` times; the spread is the standard deviation of the changes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from kproto.core.catalog import lower_is_better
from kproto.core.errors import KprotoError

DEFAULT_REPEATS = 5


def loss_words(metric: str) -> str:
    """What a column's importance measures, in words: how much `metric` got worse when it was shuffled ("rise of
    mae" for an error, "drop of accuracy" for a score)."""
    return f"{'rise' if lower_is_better(metric) else 'drop'} of {metric}"


def score(metric: str, y: np.ndarray, outputs: np.ndarray, decisions: Any = None) -> float:
    """The value of `metric` (a recipe metric name) for targets y and model outputs (probabilities or values).

    Classifiers are scored at the run's `decisions` (calibration and threshold; argmax when None) by
    kproto.metrics.classification, as `kproto evaluate` scores them."""
    from kproto.metrics.calibration import Calibration, Decisions
    from kproto.metrics.classification import SCORED, classification_metrics

    y = np.asarray(y)
    outputs = np.asarray(outputs, dtype=np.float64).reshape(len(y), -1)
    if metric in SCORED or metric == "top_k_accuracy":
        labels = y.astype(int).reshape(-1)
        if metric == "top_k_accuracy":
            top = np.argsort(-outputs, axis=1)[:, :5]
            return float(np.mean((top == labels[:, None]).any(axis=1)))
        decisions = decisions or Decisions(Calibration("none"))
        scores = classification_metrics(labels, decisions.probabilities(outputs), decisions.threshold)
        return float(scores.get(metric, 0.5 if "auc" in metric else 0.0))
    values = outputs.reshape(-1)
    target = y.astype(np.float64).reshape(-1)
    errors = values - target
    if metric == "mae":
        return float(np.mean(np.abs(errors)))
    if metric == "mse":
        return float(np.mean(errors**2))
    if metric == "rmse":
        return float(np.sqrt(np.mean(errors**2)))
    if metric == "mape":
        return float(100 * np.mean(np.abs(errors) / np.maximum(np.abs(target), 1e-7)))
    if metric == "r2":
        total = float(np.sum((target - target.mean()) ** 2)) or 1.0
        return float(1 - np.sum(errors**2) / total)
    raise KprotoError(
        f"permutation importance cannot score the metric {metric!r}",
        field="train.metrics",
        hint="accuracy, auc, pr_auc, f1, precision, recall, macro_f1, balanced_accuracy, top_k_accuracy, mae, mse, "
        "rmse, r2 or mape",
    )


def permutation_importance(
    predict: Callable[[pd.DataFrame], np.ndarray],
    frame: pd.DataFrame,
    columns: list[str],
    y: np.ndarray,
    metric: str,
    repeats: int = DEFAULT_REPEATS,
    seed: int = 0,
    on_progress: Callable[[int, int], None] | None = None,
    decisions: Any = None,
) -> list[dict[str, Any]]:
    """[{"feature", "importance", "spread"}, ...], most important first.

    `predict` maps raw rows (the original columns) to model outputs, preprocessing included. The importance is the
    mean worsening of `metric` over `repeats` shuffles of the column (positive: the model relies on it).
    """
    rng = np.random.default_rng(seed)
    sign = -1.0 if lower_is_better(metric) else 1.0
    reference = score(metric, y, predict(frame), decisions)
    results = []
    for n, column in enumerate(columns):
        drops = []
        for _ in range(repeats):
            shuffled = frame.copy()
            shuffled[column] = frame[column].to_numpy()[rng.permutation(len(frame))]
            drops.append(sign * (reference - score(metric, y, predict(shuffled), decisions)))
        results.append({"feature": column, "importance": float(np.mean(drops)), "spread": float(np.std(drops))})
        if on_progress is not None:
            on_progress(n + 1, len(columns))
    return sorted(results, key=lambda row: -row["importance"])


def attribution_ranking(names: list[str], attributions: np.ndarray) -> list[dict[str, Any]]:
    """Mean absolute attribution per feature over the rows, with its spread, most important first."""
    magnitude = np.abs(np.asarray(attributions, np.float64)).reshape(len(attributions), len(names))
    table = [
        {"feature": name, "importance": float(magnitude[:, i].mean()), "spread": float(magnitude[:, i].std())}
        for i, name in enumerate(names)
    ]
    return sorted(table, key=lambda row: -row["importance"])
