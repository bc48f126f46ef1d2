"""Split conformal prediction: label sets for classifiers and intervals for regression, from validation scores.

A nonconformity score is computed on every validation row (for classifiers the randomized adaptive-prediction-set
score of the true class on calibrated probabilities; for regression the absolute error in the target's units). For a coverage 1 − α the threshold is the ⌈(n + 1)(1 − α)⌉-th smallest score,
which guarantees coverage ≥ 1 − α on exchangeable new rows. Pure NumPy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kproto.core import catalog
from kproto.core.errors import KprotoError

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


LAC = "1 - p(true class)"
APS = "randomized adaptive prediction sets"


def row_uniforms(probabilities: np.ndarray) -> np.ndarray:
    """One number in [0, 1) per row, drawn from a hash of its probabilities (rounded to 1e-6): random-looking
    across rows, yet the same row always gets the same value, so predict, evaluate and serve give the same sets."""
    import hashlib

    rounded = np.round(np.asarray(probabilities, dtype=np.float64), 6)
    values = np.empty(len(rounded))
    for i, row in enumerate(rounded):
        digest = hashlib.blake2b(row.tobytes(), digest_size=8).digest()
        values[i] = int.from_bytes(digest, "little") / 2**64
    return values


def _mass_above(probabilities: np.ndarray) -> np.ndarray:
    """Per row and class: the total probability of the classes ranked strictly above it."""
    order = np.argsort(-probabilities, axis=1, kind="stable")
    ranked = np.take_along_axis(probabilities, order, axis=1)
    above = np.cumsum(ranked, axis=1) - ranked
    mass = np.empty_like(probabilities)
    np.put_along_axis(mass, order, above, axis=1)
    return mass


def aps_scores(probabilities: np.ndarray) -> np.ndarray:
    """(rows, classes): the randomized APS score each class would have as the true one — the probability mass
    ranked above it plus a uniform share of its own (Romano, Sesia and Candès, 2020)."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    return _mass_above(probabilities) + row_uniforms(probabilities)[:, None] * probabilities


def classification_scores(probabilities: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The randomized APS score of each row's true class.

    Unlike 1 − p(true class), it does not hinge on the tiny probabilities an accurate model leaves to the
    other classes, so the coverage reached on new rows stays close to the coverage asked for.
    """
    labels = np.asarray(labels, dtype=int)
    return aps_scores(probabilities)[np.arange(len(labels)), labels]


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
    score: str = APS
    steps: list[np.ndarray] | None = None  # forecasts: each step's sorted scores, so intervals widen with the step

    @classmethod
    def fit(cls, task: str, scores: np.ndarray, steps: np.ndarray | None = None) -> Conformal:
        """Keep the sorted scores (thinned evenly beyond MAX_STORED_SCORES) and the usual quantiles; `steps`
        [windows, horizon] are a forecast's scores per step (`scores` then pools them)."""
        ordered = np.sort(np.asarray(scores, dtype=np.float64)[np.isfinite(scores)])
        if len(ordered) > MAX_STORED_SCORES:
            ordered = ordered[np.linspace(0, len(ordered) - 1, MAX_STORED_SCORES).astype(int)]
        quantiles = {f"{c:g}": conformal_quantile(ordered, c) for c in STORED_COVERAGES}
        per_step = None
        if steps is not None:
            steps = np.asarray(steps, np.float64).reshape(len(steps), -1)
            per_step = [np.sort(column[np.isfinite(column)]) for column in steps.T]
        return cls(task=task, scores=ordered, quantiles=quantiles, steps=per_step)

    def to_dict(self) -> dict[str, Any]:
        data = {
            "method": "split",
            "task": self.task,
            "score": self.score if self.task == catalog.CLASSIFICATION else "|y - prediction|",
            "split": "validation",
            "rows": int(len(self.scores)),
            "quantiles": {k: (None if math.isinf(v) else v) for k, v in self.quantiles.items()},
            "scores": [float(s) for s in self.scores],
        }
        if self.steps is not None:
            data["score"] = "|y - prediction| per forecast step (validation windows)"
            data["steps"] = [[float(s) for s in column] for column in self.steps]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Conformal:
        quantiles = {k: (math.inf if v is None else float(v)) for k, v in data.get("quantiles", {}).items()}
        steps = data.get("steps")
        return cls(
            task=str(data["task"]),
            scores=np.asarray(data.get("scores", []), np.float64),
            quantiles=quantiles,
            score=str(data.get("score", APS)),
            steps=None if steps is None else [np.asarray(column, np.float64) for column in steps],
        )

    def step_intervals(self, predicted: np.ndarray, coverage: float) -> tuple[np.ndarray, np.ndarray]:
        """Forecasts [n, horizon] ∓ each step's quantile of absolute validation errors (the pooled one without
        per-step scores)."""
        predicted = np.asarray(predicted, dtype=np.float64)
        predicted = predicted.reshape(len(predicted), -1)
        coverage = check_coverage(coverage)
        if self.steps is None:
            half = np.full(predicted.shape[1], conformal_quantile(self.scores, coverage))
        else:
            half = np.asarray([conformal_quantile(self.steps[h], coverage) for h in range(predicted.shape[1])])
        return predicted - half[None, :], predicted + half[None, :]

    def quantile(self, coverage: float) -> float:
        return conformal_quantile(self.scores, check_coverage(coverage))

    def sets(self, probabilities: np.ndarray, coverage: float) -> np.ndarray:
        """Boolean (rows, classes): class k is in a row's set when its score as the true class is at most the
        quantile (the most probable classes first: a set is always a top-k of the ranking).

        A set may be empty (no class is probable enough at this coverage): forcing the top class in would make an
        accurate model cover more than asked, and the coverage would no longer mean what it says.
        """
        probabilities = np.asarray(probabilities, dtype=np.float64)
        scores = 1.0 - probabilities if self.score == LAC else aps_scores(probabilities)
        return scores <= self.quantile(coverage) + 1e-12

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
