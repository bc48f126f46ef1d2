"""Probabilities that mean what they say: temperature scaling, expected calibration error, binary thresholds.

Pure NumPy, so the training loop, `kproto predict`, `kproto evaluate` and the server all share one implementation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from kproto.core import catalog
from kproto.core.errors import KprotoError, not_one_of

ECE_BINS = 15
TEMPERATURE_RANGE = (0.05, 20.0)
EPSILON = 1e-12


# ---------------------------------------------------------------------------------------------- temperature scaling
def log_probabilities(outputs: np.ndarray, logits: bool = False) -> np.ndarray:
    """Log-probabilities from a model's outputs: softmax probabilities, or raw scores when `logits`.

    Softmax ignores a constant shift, so scaling log-probabilities by 1/T is the same as scaling the logits.
    """
    values = np.asarray(outputs, dtype=np.float64)
    if values.ndim == 1:
        values = values[:, None]
    if values.shape[1] == 1:  # a single sigmoid unit: expand to two classes
        if logits:
            values = np.concatenate([np.zeros_like(values), values], axis=1)
        else:
            p = np.clip(values, EPSILON, 1 - EPSILON)
            return np.log(np.concatenate([1 - p, p], axis=1))
    if logits:
        shifted = values - values.max(axis=1, keepdims=True)
        return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return np.log(np.clip(values, EPSILON, None))


def softmax(scores: np.ndarray) -> np.ndarray:
    """Row-wise softmax, numerically stable."""
    shifted = scores - scores.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def apply_temperature(log_probs: np.ndarray, temperature: float) -> np.ndarray:
    """Probabilities softmax(log p / T); T > 1 softens over-confident outputs."""
    return softmax(np.asarray(log_probs, dtype=np.float64) / float(temperature))


def negative_log_likelihood(log_probs: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> float:
    """Mean cross-entropy of the tempered probabilities against integer labels."""
    scaled = np.asarray(log_probs, dtype=np.float64) / float(temperature)
    shifted = scaled - scaled.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(shifted).sum(axis=1))
    picked = shifted[np.arange(len(labels)), np.asarray(labels, dtype=int)]
    return float(np.mean(log_norm - picked))


def fit_temperature(log_probs: np.ndarray, labels: np.ndarray, iterations: int = 80) -> float:
    """The temperature minimising validation NLL (golden-section search on 1/T, where the NLL is convex)."""
    labels = np.asarray(labels, dtype=int)
    if len(labels) == 0:
        return 1.0
    low, high = 1.0 / TEMPERATURE_RANGE[1], 1.0 / TEMPERATURE_RANGE[0]

    def loss(inverse: float) -> float:
        return negative_log_likelihood(log_probs, labels, 1.0 / inverse)

    ratio = (np.sqrt(5) - 1) / 2
    a, b = low, high
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    fc, fd = loss(c), loss(d)
    for _ in range(iterations):
        if fc <= fd:
            b, d, fd = d, c, fc
            c = b - ratio * (b - a)
            fc = loss(c)
        else:
            a, c, fc = c, d, fd
            d = a + ratio * (b - a)
            fd = loss(d)
    best = (a + b) / 2
    if loss(best) > loss(1.0):  # never worse than leaving the model alone
        return 1.0
    return float(1.0 / best)


# ---------------------------------------------------------------------------------------------- calibration error
@dataclass
class Reliability:
    """Per-bin mean confidence, accuracy and row count: the data of a reliability diagram."""

    edges: list[float]
    confidence: list[float]
    accuracy: list[float]
    counts: list[int]

    def to_dict(self) -> dict[str, Any]:
        return {"edges": self.edges, "confidence": self.confidence, "accuracy": self.accuracy, "counts": self.counts}


def reliability(probabilities: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> Reliability:
    """Equal-width bins of top-class confidence; empty bins report NaN confidence and accuracy."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    labels = np.asarray(labels, dtype=int)
    confidence = probabilities.max(axis=1)
    correct = (probabilities.argmax(axis=1) == labels).astype(np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    counts = np.bincount(index, minlength=bins)
    conf_sum = np.bincount(index, weights=confidence, minlength=bins)
    acc_sum = np.bincount(index, weights=correct, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.where(counts > 0, conf_sum / np.maximum(counts, 1), np.nan)
        mean_acc = np.where(counts > 0, acc_sum / np.maximum(counts, 1), np.nan)
    return Reliability(
        edges=[float(e) for e in edges],
        confidence=[float(v) for v in mean_conf],
        accuracy=[float(v) for v in mean_acc],
        counts=[int(c) for c in counts],
    )


def expected_calibration_error(probabilities: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> float:
    """Σ_bins (rows in bin / rows) · |accuracy − mean confidence|, on the top class, `bins` equal-width bins."""
    if len(labels) == 0:
        return 0.0
    table = reliability(probabilities, labels, bins)
    total = sum(table.counts)
    return float(
        sum(n * abs(a - c) for n, a, c in zip(table.counts, table.accuracy, table.confidence) if n > 0) / total
    )


CALIBRATION_METHODS = catalog.CALIBRATIONS


@dataclass
class Calibration:
    """A fitted calibration: what metrics.json records under "calibration"."""

    method: str
    temperature: float = 1.0
    ece_before: float | None = None
    ece_after: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "temperature": self.temperature,
            "ece_before": self.ece_before,
            "ece_after": self.ece_after,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Calibration:
        if not data:
            return cls(method="none")
        return cls(
            method=str(data.get("method", "none")),
            temperature=float(data.get("temperature") or 1.0),
            ece_before=data.get("ece_before"),
            ece_after=data.get("ece_after"),
        )

    def apply(self, log_probs: np.ndarray) -> np.ndarray:
        """Calibrated probabilities for log-probabilities."""
        return apply_temperature(log_probs, self.temperature if self.method == "temperature" else 1.0)


def fit_calibration(
    method: str,
    val_log_probs: np.ndarray,
    val_labels: np.ndarray,
    test_log_probs: np.ndarray | None = None,
    test_labels: np.ndarray | None = None,
) -> Calibration:
    """Fit `method` on the validation split; ECE before and after are measured on the test split when given.

    `auto` is temperature scaling, kept only when it lowers the validation ECE (else the temperature stays 1).
    """
    if method not in CALIBRATION_METHODS:
        raise KprotoError(
            f"unknown calibration method: {not_one_of(method, CALIBRATION_METHODS)}", field="train.calibrate"
        )
    if method == "none" or len(val_labels) == 0:
        return Calibration(method="none")
    temperature = fit_temperature(val_log_probs, val_labels)
    if method == "auto":
        before = expected_calibration_error(apply_temperature(val_log_probs, 1.0), val_labels)
        after = expected_calibration_error(apply_temperature(val_log_probs, temperature), val_labels)
        if after > before:
            temperature = 1.0
    result = Calibration(method="temperature", temperature=temperature)
    if test_log_probs is not None and test_labels is not None and len(test_labels):
        result.ece_before = expected_calibration_error(apply_temperature(test_log_probs, 1.0), test_labels)
        result.ece_after = expected_calibration_error(apply_temperature(test_log_probs, temperature), test_labels)
    return result


# ---------------------------------------------------------------------------------------------- binary thresholds
def _counts(positive: np.ndarray, predicted: np.ndarray) -> tuple[float, float, float, float]:
    tp = float(np.sum(predicted & positive))
    fp = float(np.sum(predicted & ~positive))
    fn = float(np.sum(~predicted & positive))
    tn = float(np.sum(~predicted & ~positive))
    return tp, fp, fn, tn


def _f1(tp: float, fp: float, fn: float, tn: float) -> float:
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def _accuracy(tp: float, fp: float, fn: float, tn: float) -> float:
    return (tp + tn) / max(tp + fp + fn + tn, 1.0)


def _balanced_accuracy(tp: float, fp: float, fn: float, tn: float) -> float:
    recall = tp / (tp + fn) if tp + fn else 0.0
    specificity = tn / (tn + fp) if tn + fp else 0.0
    return (recall + specificity) / 2


def _precision(tp: float, fp: float, fn: float, tn: float) -> float:
    return tp / (tp + fp) if tp + fp else 0.0


def _recall(tp: float, fp: float, fn: float, tn: float) -> float:
    return tp / (tp + fn) if tp + fn else 0.0


def _mcc(tp: float, fp: float, fn: float, tn: float) -> float:
    denominator = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    return float((tp * tn - fp * fn) / denominator) if denominator else 0.0


THRESHOLD_METRICS: dict[str, Callable[[float, float, float, float], float]] = {
    "f1": _f1,
    "accuracy": _accuracy,
    "balanced_accuracy": _balanced_accuracy,
    "precision": _precision,
    "recall": _recall,
    "mcc": _mcc,
}


def threshold_score(metric: str, positive_probability: np.ndarray, labels: np.ndarray, threshold: float) -> float:
    """`metric` of the decisions 'positive when p(class 1) ≥ threshold' against 0/1 labels."""
    if metric not in THRESHOLD_METRICS:
        raise KprotoError(
            f"unknown threshold metric: {not_one_of(metric, tuple(THRESHOLD_METRICS))}", field="train.threshold_metric"
        )
    positive = np.asarray(labels, dtype=int) == 1
    predicted = np.asarray(positive_probability, dtype=np.float64) >= threshold
    return float(THRESHOLD_METRICS[metric](*_counts(positive, predicted)))


def choose_threshold(positive_probability: np.ndarray, labels: np.ndarray, metric: str = "f1") -> float:
    """The threshold on p(class 1) that maximises `metric` on these rows (ties: the one closest to 0.5)."""
    p = np.asarray(positive_probability, dtype=np.float64)
    if len(p) == 0:
        return 0.5
    unique = np.unique(p)
    candidates = np.concatenate([[0.5], (unique[:-1] + unique[1:]) / 2, unique[:1], unique[-1:] + 1e-9])
    candidates = np.clip(candidates, 0.0, 1.0)
    scores = np.array([threshold_score(metric, p, labels, t) for t in candidates])
    best = np.flatnonzero(scores >= scores.max() - 1e-12)
    return float(candidates[best[np.argmin(np.abs(candidates[best] - 0.5))]])


def decide(probabilities: np.ndarray, threshold: float | None) -> np.ndarray:
    """Class indices: argmax, or for two classes 'class 1 when its probability ≥ threshold'."""
    probabilities = np.asarray(probabilities)
    if threshold is None or probabilities.shape[1] != 2:
        return probabilities.argmax(axis=1)
    return (probabilities[:, 1] >= threshold).astype(np.int64)


@dataclass
class Decisions:
    """How a run turns model outputs into answers: calibration temperature and binary threshold."""

    calibration: Calibration
    threshold: float | None = None
    logits: bool = False

    @classmethod
    def from_metrics(cls, metrics: dict[str, Any]) -> Decisions:
        """Read back from a run's metrics.json (absent keys: no calibration, argmax decisions)."""
        threshold = metrics.get("threshold")
        if isinstance(threshold, dict):
            threshold = threshold.get("value")
        return cls(
            calibration=Calibration.from_dict(metrics.get("calibration")),
            threshold=None if threshold is None else float(threshold),
            logits=metrics.get("outputs") == "logits",
        )

    def probabilities(self, outputs: np.ndarray) -> np.ndarray:
        """Calibrated class probabilities for a classifier's raw outputs."""
        return self.calibration.apply(log_probabilities(outputs, self.logits))

    def classes(self, probabilities: np.ndarray) -> np.ndarray:
        return decide(probabilities, self.threshold)


def fit_threshold(
    setting: str | float | None, metric: str, val_probabilities: np.ndarray, val_labels: np.ndarray
) -> dict[str, Any] | None:
    """What metrics.json records under "threshold" for a binary classifier: `auto` is chosen on validation.

    Returns None for models with more than two classes or when no threshold is asked for.
    """
    probabilities = np.asarray(val_probabilities)
    if setting is None or probabilities.ndim != 2 or probabilities.shape[1] != 2:
        return None
    positive = probabilities[:, 1]
    if setting == "auto":
        value = choose_threshold(positive, val_labels, metric)
    else:
        value = float(setting)
        if not 0.0 <= value <= 1.0:
            raise KprotoError(
                f"train.threshold must be auto or a number in [0, 1]; received {setting!r}", field="train.threshold"
            )
    return {
        "value": value,
        "metric": metric,
        "chosen_on": "validation" if setting == "auto" else "recipe",
        "validation_at_0.5": threshold_score(metric, positive, val_labels, 0.5) if len(positive) else None,
        "validation_at_threshold": threshold_score(metric, positive, val_labels, value) if len(positive) else None,
    }
