"""kproto.models.class_metrics: the epoch-log metrics agree with kproto.metrics.classification at argmax."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from kproto.metrics.classification import classification_metrics
from kproto.models.class_metrics import ClassAUC, ClassScore


def rows(classes: int, n: int = 120, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, size=n)
    logits = rng.normal(size=(n, classes)) + 1.2 * np.eye(classes)[labels]
    return labels, np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)


@pytest.mark.parametrize("classes", [2, 4])
@pytest.mark.parametrize("statistic", ["precision", "recall", "f1", "macro_f1", "balanced_accuracy"])
@pytest.mark.parametrize("onehot", [False, True])
def test_class_score_matches_the_final_metric(classes: int, statistic: str, onehot: bool) -> None:
    labels, probabilities = rows(classes)
    metric = ClassScore(statistic, num_classes=classes)
    targets = np.eye(classes)[labels] if onehot else labels
    for part in (slice(0, 50), slice(50, None)):  # accumulated over batches
        metric.update_state(targets[part], probabilities[part])
    expected = classification_metrics(labels, probabilities)[statistic]
    assert float(metric.result()) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize(("classes", "curve", "name"), [(2, "ROC", "auc"), (2, "PR", "pr_auc"), (4, "ROC", "auc")])
def test_class_auc_is_the_positive_class_or_one_vs_rest(classes: int, curve: str, name: str) -> None:
    labels, probabilities = rows(classes, n=400)
    metric = ClassAUC(curve, num_classes=classes)
    metric.update_state(labels, probabilities)
    expected = classification_metrics(labels, probabilities)[name]
    assert float(metric.result()) == pytest.approx(expected, abs=0.02)  # Keras: 200 thresholds


def test_class_auc_reads_logits_and_one_sigmoid_unit() -> None:
    labels, probabilities = rows(2, n=300)
    from_logits = ClassAUC("ROC", num_classes=2, logits=True)
    from_logits.update_state(labels, np.log(probabilities))
    sigmoid = ClassAUC("ROC", num_classes=2)
    sigmoid.update_state(labels, probabilities[:, 1:])
    expected = classification_metrics(labels, probabilities)["auc"]
    assert float(from_logits.result()) == pytest.approx(expected, abs=0.02)
    assert float(sigmoid.result()) == pytest.approx(expected, abs=0.02)


@pytest.mark.parametrize("metric", [ClassScore("macro_f1", num_classes=3), ClassAUC("PR", num_classes=2, logits=True)])
def test_config_round_trip(metric: keras.metrics.Metric) -> None:
    again = type(metric).from_config(metric.get_config())
    assert again.get_config() == metric.get_config()
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(metric))
    assert type(restored) is type(metric) and restored.name == metric.name
