"""kproto.metrics.classification against scikit-learn on fixed arrays: imbalanced, multi-class, string labels."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import (
    average_precision_score,
    balanced_accuracy_score,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)

from kproto.metrics.classification import SCORED, classification_metrics, describe, legend


def imbalanced(n: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """3% positives; p(positive) informative but noisy; two softmax columns."""
    rng = np.random.default_rng(seed)
    labels = (rng.random(n) < 0.03).astype(int)
    labels[:3] = 1
    p = np.clip(0.2 * labels + rng.beta(2, 8, size=n), 0, 1)
    return labels, np.stack([1 - p, p], axis=1)


def test_binary_metrics_are_the_positive_classs_on_imbalanced_rows() -> None:
    labels, probabilities = imbalanced()
    threshold = 0.3
    scores = classification_metrics(labels, probabilities, threshold)
    predicted = (probabilities[:, 1] >= threshold).astype(int)
    assert scores["auc"] == pytest.approx(roc_auc_score(labels, probabilities[:, 1]))
    assert scores["pr_auc"] == pytest.approx(average_precision_score(labels, probabilities[:, 1]))
    assert scores["precision"] == pytest.approx(precision_score(labels, predicted, zero_division=0))
    assert scores["recall"] == pytest.approx(recall_score(labels, predicted))
    assert scores["f1"] == pytest.approx(f1_score(labels, predicted))
    assert scores["macro_f1"] == pytest.approx(f1_score(labels, predicted, average="macro"))
    assert scores["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(labels, predicted))
    assert scores["accuracy"] == pytest.approx(np.mean(labels == predicted))
    # The number the issue found inflated: both softmax columns pooled into one ROC curve.
    pooled = roc_auc_score(np.eye(2)[labels].ravel(), probabilities.ravel())
    assert pooled > scores["auc"] + 0.02


def test_multi_class_auc_is_one_vs_rest_macro() -> None:
    rng = np.random.default_rng(1)
    labels = np.repeat([0, 1, 2, 3], [50, 30, 15, 5])
    logits = rng.normal(size=(100, 4)) + 1.5 * np.eye(4)[labels]
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    scores = classification_metrics(labels, probabilities)
    predicted = probabilities.argmax(axis=1)
    assert scores["auc"] == pytest.approx(roc_auc_score(labels, probabilities, multi_class="ovr", average="macro"))
    expected_pr = np.mean([average_precision_score(labels == c, probabilities[:, c]) for c in range(4)])
    assert scores["pr_auc"] == pytest.approx(expected_pr)
    for name, average in (("precision", "macro"), ("recall", "macro"), ("f1", "macro"), ("macro_f1", "macro")):
        function = {"precision": precision_score, "recall": recall_score}.get(name, f1_score)
        assert scores[name] == pytest.approx(function(labels, predicted, average=average, zero_division=0)), name
    assert scores["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(labels, predicted))


@pytest.mark.parametrize("positive", ["spam", "ham"])
def test_string_labels_with_either_positive_class(positive: str) -> None:
    """Labels are strings; the positive class is put second (as train.positive_class does) and scored as sklearn
    scores pos_label=positive."""
    text = np.array(["ham", "spam", "ham", "ham", "spam", "ham", "spam", "ham", "ham", "ham"])
    p_spam = np.array([0.1, 0.8, 0.4, 0.2, 0.35, 0.05, 0.9, 0.6, 0.3, 0.2])
    classes = ["spam" if positive == "ham" else "ham", positive]  # positive last
    labels = np.array([classes.index(t) for t in text])
    p_positive = p_spam if positive == "spam" else 1 - p_spam
    probabilities = np.stack([1 - p_positive, p_positive], axis=1)
    scores = classification_metrics(labels, probabilities, 0.5)
    truth = text == positive
    decided = np.where(p_positive >= 0.5, positive, classes[0])
    assert scores["auc"] == pytest.approx(roc_auc_score(truth, p_positive))
    assert scores["pr_auc"] == pytest.approx(average_precision_score(truth, p_positive))
    assert scores["f1"] == pytest.approx(f1_score(text, decided, pos_label=positive))
    assert scores["precision"] == pytest.approx(precision_score(text, decided, pos_label=positive))
    assert scores["recall"] == pytest.approx(recall_score(text, decided, pos_label=positive))


def test_one_class_rows_leave_the_ranking_metrics_out() -> None:
    scores = classification_metrics(np.zeros(4, int), np.array([[0.9, 0.1]] * 4), 0.5)
    assert "auc" not in scores and "pr_auc" not in scores
    assert scores["accuracy"] == 1.0
    assert classification_metrics(np.zeros(0, int), np.zeros((0, 2))) == {}


def test_threshold_changes_decisions_not_rankings() -> None:
    labels, probabilities = imbalanced(seed=2)
    low, high = classification_metrics(labels, probabilities, 0.1), classification_metrics(labels, probabilities, 0.9)
    assert low["auc"] == high["auc"] and low["pr_auc"] == high["pr_auc"]
    assert low["recall"] > high["recall"]


def test_legend_says_which_is_which() -> None:
    assert "positive class 'yes'" in describe("auc", 2, "yes")
    assert "one-vs-rest" in describe("auc", 3)
    assert "threshold 0.32" in describe("f1", 2, "yes", 0.32)
    assert "macro" in describe("f1", 4)
    words = legend({"report": {"classes": ["no", "yes"]}, "threshold": {"value": 0.4}, "positive_class": "yes"})
    assert set(words) == set(SCORED)
    assert "'yes'" in words["pr_auc"] and "0.4" in words["precision"]
    assert legend({"report": {"mae": 1.0}}) == {}


@pytest.mark.parametrize("seed", range(4))
def test_roc_auc_and_average_precision_with_ties(seed: int) -> None:
    from kproto.metrics.classification import average_precision, roc_auc

    rng = np.random.default_rng(seed)
    truth = rng.random(60) < 0.3
    truth[:2] = [True, False]
    scores = np.round(rng.random(60) + 0.3 * truth, 1)  # rounded: many ties
    assert roc_auc(truth, scores) == pytest.approx(roc_auc_score(truth, scores))
    assert average_precision(truth, scores) == pytest.approx(average_precision_score(truth, scores))
