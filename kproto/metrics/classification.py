"""Classification metrics that mean what their names say, in one place for training, evaluate, sweeps and serve.

Binary (two classes; the positive class is the second one, see `train.positive_class`):
  auc, pr_auc            ROC AUC and average precision of the positive class's probability
  precision, recall, f1  of the positive class, deciding "positive" at the run's threshold
Multi-class:
  auc, pr_auc            one-vs-rest, averaged over the classes (macro)
  precision, recall, f1  per class at argmax, averaged over the classes (macro)
Both:
  accuracy, macro_f1, balanced_accuracy (mean recall over classes), at the run's decisions.

Every function takes integer labels (class indices) and class probabilities [rows, classes]. NumPy only (the tests
check every number against scikit-learn), so scoring imports nothing heavy.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kproto.metrics.calibration import decide

# What `classification_metrics` computes (the catalog's classification metrics, except top_k_accuracy).
SCORED = ("accuracy", "auc", "pr_auc", "precision", "recall", "f1", "macro_f1", "balanced_accuracy")


def _per_class_counts(labels: np.ndarray, predicted: np.ndarray, classes: int) -> tuple[np.ndarray, ...]:
    tp = np.array([np.sum((predicted == c) & (labels == c)) for c in range(classes)], dtype=np.float64)
    predicted_n = np.array([np.sum(predicted == c) for c in range(classes)], dtype=np.float64)
    actual_n = np.array([np.sum(labels == c) for c in range(classes)], dtype=np.float64)
    return tp, predicted_n, actual_n


def _ratio(top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    return np.divide(top, bottom, out=np.zeros_like(top), where=bottom > 0)


def roc_auc(positive: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC: the chance a positive row scores above a negative one, ties counting half (Mann–Whitney U)."""
    positive = np.asarray(positive, dtype=bool)
    ranks = _average_ranks(np.asarray(scores, dtype=np.float64))
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, tied values sharing their mean rank."""
    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    ends = np.r_[starts[1:], len(values)]
    mean_rank = (starts + ends + 1) / 2.0  # positions start..end-1 are ranks start+1..end
    ranks = np.empty(len(values))
    ranks[order] = np.repeat(mean_rank, ends - starts)
    return ranks


def average_precision(positive: np.ndarray, scores: np.ndarray) -> float:
    """Average precision: Σ (recall_k − recall_{k−1}) · precision_k over the distinct score thresholds, highest
    first (the step-wise area under the precision–recall curve, as scikit-learn's average_precision_score)."""
    positive = np.asarray(positive, dtype=bool)
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="mergesort")
    ordered, hits = np.asarray(scores, dtype=np.float64)[order], positive[order]
    last = np.r_[np.flatnonzero(ordered[1:] != ordered[:-1]), len(ordered) - 1]  # the end of each tie group
    true_positives = np.cumsum(hits)[last]
    precision = true_positives / (last + 1)
    recall = true_positives / true_positives[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def _one_vs_rest(labels: np.ndarray, scores: np.ndarray, curve: str) -> float | None:
    """ROC AUC ("roc") or average precision ("pr") of one class against the rest; None with one kind of row."""
    positive = labels.astype(bool)
    if positive.all() or not positive.any():
        return None
    return roc_auc(positive, scores) if curve == "roc" else average_precision(positive, scores)


def ranking_scores(labels: np.ndarray, probabilities: np.ndarray) -> dict[str, float]:
    """`auc` and `pr_auc`: of the positive class (two classes), or one-vs-rest macro over the classes present."""
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    classes = probabilities.shape[1]
    result: dict[str, float] = {}
    for name, curve in (("auc", "roc"), ("pr_auc", "pr")):
        if classes == 2:
            value = _one_vs_rest(labels == 1, probabilities[:, 1], curve)
        else:
            values = [_one_vs_rest(labels == c, probabilities[:, c], curve) for c in range(classes)]
            kept = [v for v in values if v is not None]
            value = float(np.mean(kept)) if kept else None
        if value is not None:
            result[name] = value
    return result


def decision_scores(labels: np.ndarray, predicted: np.ndarray, classes: int) -> dict[str, float]:
    """Scores of decided classes: accuracy, balanced_accuracy, macro_f1, and precision/recall/f1 (of the positive
    class with two classes, macro averages otherwise)."""
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    predicted = np.asarray(predicted, dtype=np.int64).reshape(-1)
    if len(labels) == 0:
        return {}
    tp, predicted_n, actual_n = _per_class_counts(labels, predicted, classes)
    precision, recall = _ratio(tp, predicted_n), _ratio(tp, actual_n)
    f1 = _ratio(2 * tp, predicted_n + actual_n)
    present = actual_n > 0
    result = {
        "accuracy": float(np.mean(labels == predicted)),
        "balanced_accuracy": float(recall[present].mean()) if present.any() else 0.0,
        "macro_f1": float(f1.mean()),
    }
    if classes == 2:
        result.update(precision=float(precision[1]), recall=float(recall[1]), f1=float(f1[1]))
    else:
        result.update(precision=float(precision.mean()), recall=float(recall.mean()), f1=float(f1.mean()))
    return result


def classification_metrics(
    labels: np.ndarray, probabilities: np.ndarray, threshold: float | None = None
) -> dict[str, float]:
    """Every metric in SCORED for these rows; decisions at `threshold` on the positive class (two classes) or
    argmax. A ranking metric that needs both kinds of rows is left out when the rows have one class only."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if len(probabilities) == 0:
        return {}
    predicted = decide(probabilities, threshold)
    ranking = ranking_scores(labels, probabilities)
    scores = decision_scores(labels, predicted, probabilities.shape[1])
    merged = {**scores, **ranking}
    return {name: merged[name] for name in SCORED if name in merged}


def describe(name: str, classes: int, positive: Any = None, threshold: float | None = None) -> str:
    """What a classification metric measures, in words, for a table legend."""
    at = f"at threshold {threshold:.4g}" if threshold is not None and classes == 2 else "at argmax"
    binary = classes == 2
    label = f"'{positive}'" if positive is not None else "the second class"
    texts = {
        "accuracy": f"share of rows decided right ({at})",
        "auc": f"ROC AUC of the positive class {label}" if binary else "ROC AUC, one-vs-rest, macro over classes",
        "pr_auc": f"average precision of the positive class {label}"
        if binary
        else "average precision, one-vs-rest, macro over classes",
        "precision": f"precision of the positive class {label} ({at})" if binary else f"macro precision ({at})",
        "recall": f"recall of the positive class {label} ({at})" if binary else f"macro recall ({at})",
        "f1": f"F1 of the positive class {label} ({at})" if binary else f"macro F1 ({at})",
        "macro_f1": f"F1 averaged over classes ({at})",
        "balanced_accuracy": f"recall averaged over classes ({at})",
    }
    return texts.get(name, "")


def legend(metrics: dict[str, Any]) -> dict[str, str]:
    """What each classification metric of a run's metrics.json measures ({} for other tasks)."""
    report = metrics.get("report") or {}
    classes = report.get("classes")
    if not isinstance(classes, list):
        return {}
    threshold = metrics.get("threshold")
    value = threshold.get("value") if isinstance(threshold, dict) else threshold
    positive = metrics.get("positive_class", classes[1] if len(classes) == 2 else None)
    return {name: describe(name, len(classes), positive, value) for name in SCORED}
