"""Split conformal prediction: label sets for classifiers and intervals for regression, from validation scores.

A nonconformity score is computed on every validation row (1 − calibrated probability of the true class; the
absolute error in the target's units). For a coverage 1 − α the threshold is the ⌈(n + 1)(1 − α)⌉-th smallest score,
which guarantees coverage ≥ 1 − α on exchangeable new rows. Pure NumPy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kproto.errors import KprotoError

STORED_COVERAGES = (0.8, 0.9, 0.95, 0.99)
MAX_STORED_SCORES = 100_000


def check_coverage(coverage: float, flag: str = "--coverage") -> float:
    """A coverage strictly between 0 and 1, else a KprotoError naming `flag`."""
    try:
        value = float(coverage)
    except (TypeError, ValueError):
        raise KprotoError(f"{flag} must be a number between 0 and 1; received {coverage!r}", field=flag) from None
    if not 0.0 < value < 1.0 or not math.isfinite(value):
        raise KprotoError(
            f"{flag} must be strictly between 0 and 1; received {coverage!r}",
            field=flag,
            hint="for example 0.9: the share of rows whose true value the set or interval should contain",
        )
    return value


def classification_scores(probabilities: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """1 − p(true class) per row."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    return 1.0 - probabilities[np.arange(len(labels)), np.asarray(labels, dtype=int)]


def regression_scores(predicted: np.ndarray, actual: np.ndarray) -> np.ndarray:
    """|actual − predicted| per row."""
    return np.abs(
        np.asarray(actual, dtype=np.float64).reshape(-1) - np.asarray(predicted, dtype=np.float64).reshape(-1)
    )


def conformal_quantile(scores: np.ndarray, coverage: float) -> float:
    """The ⌈(n + 1)·coverage⌉-th smallest score (infinite when there are too few rows for that coverage)."""
    ordered = np.sort(np.asarray(scores, dtype=np.float64))
    n = len(ordered)
    rank = math.ceil((n + 1) * coverage - 1e-9)
    if n == 0 or rank > n:
        return math.inf
    return float(ordered[max(rank, 1) - 1])


@dataclass
class Conformal:
    """Validation nonconformity scores of a run (the run file conformal.json)."""

    task: str
    scores: np.ndarray
    quantiles: dict[str, float] = field(default_factory=dict)

    @classmethod
    def fit(cls, task: str, scores: np.ndarray) -> Conformal:
        """Keep the sorted scores (thinned evenly beyond MAX_STORED_SCORES) and the usual quantiles."""
        ordered = np.sort(np.asarray(scores, dtype=np.float64)[np.isfinite(scores)])
        if len(ordered) > MAX_STORED_SCORES:
            ordered = ordered[np.linspace(0, len(ordered) - 1, MAX_STORED_SCORES).astype(int)]
        quantiles = {f"{c:g}": conformal_quantile(ordered, c) for c in STORED_COVERAGES}
        return cls(task=task, scores=ordered, quantiles=quantiles)

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": "split",
            "task": self.task,
            "score": "1 - p(true class)" if self.task == "classification" else "|y - prediction|",
            "split": "validation",
            "rows": int(len(self.scores)),
            "quantiles": {k: (None if math.isinf(v) else v) for k, v in self.quantiles.items()},
            "scores": [float(s) for s in self.scores],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Conformal:
        quantiles = {k: (math.inf if v is None else float(v)) for k, v in data.get("quantiles", {}).items()}
        return cls(task=str(data["task"]), scores=np.asarray(data.get("scores", []), np.float64), quantiles=quantiles)

    def quantile(self, coverage: float) -> float:
        return conformal_quantile(self.scores, check_coverage(coverage))

    def sets(self, probabilities: np.ndarray, coverage: float) -> np.ndarray:
        """Boolean (rows, classes): class k is in a row's set when 1 − p_k ≤ the quantile.

        A set may be empty (no class is probable enough at this coverage): forcing the top class in would make an
        accurate model cover more than asked, and the coverage would no longer mean what it says.
        """
        probabilities = np.asarray(probabilities, dtype=np.float64)
        return (1.0 - probabilities) <= self.quantile(coverage) + 1e-12

    def intervals(self, predicted: np.ndarray, coverage: float) -> tuple[np.ndarray, np.ndarray]:
        """(lower, upper) = prediction ∓ the quantile of absolute validation errors."""
        predicted = np.asarray(predicted, dtype=np.float64).reshape(-1)
        q = self.quantile(coverage)
        return predicted - q, predicted + q


def set_labels(members: np.ndarray, class_names: list[Any]) -> list[str]:
    """Each row's prediction set as labels joined by '|'."""
    return ["|".join(str(class_names[k]) for k in np.flatnonzero(row)) for row in members]


def set_coverage(members: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Empirical coverage and mean set size of prediction sets on labelled rows."""
    labels = np.asarray(labels, dtype=int)
    if len(labels) == 0:
        return {"coverage": float("nan"), "mean_set_size": float("nan")}
    return {
        "coverage": float(np.mean(members[np.arange(len(labels)), labels])),
        "mean_set_size": float(np.mean(members.sum(axis=1))),
    }


def interval_coverage(lower: np.ndarray, upper: np.ndarray, actual: np.ndarray) -> dict[str, float]:
    """Empirical coverage and mean width of intervals on rows with known values."""
    actual = np.asarray(actual, dtype=np.float64).reshape(-1)
    if len(actual) == 0:
        return {"coverage": float("nan"), "mean_width": float("nan")}
    return {
        "coverage": float(np.mean((actual >= lower) & (actual <= upper))),
        "mean_width": float(np.mean(upper - lower)),
    }
