"""Temperature scaling, expected calibration error and binary thresholds (pure NumPy, no training)."""

from __future__ import annotations

import numpy as np
import pytest

from kproto.core.errors import KprotoError
from kproto.metrics.calibration import (
    Calibration,
    Decisions,
    apply_temperature,
    choose_threshold,
    decide,
    expected_calibration_error,
    fit_calibration,
    fit_temperature,
    fit_threshold,
    log_probabilities,
    negative_log_likelihood,
    reliability,
    threshold_score,
)


def overconfident(rows: int, classes: int = 3, sharpness: float = 4.0, seed: int = 0):
    """Labels drawn from softmax(z), model reports softmax(sharpness * z): over-confident by `sharpness`."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(rows, classes))
    true_p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    labels = np.array([rng.choice(classes, p=p) for p in true_p])
    return sharpness * z, labels


def test_temperature_recovers_overconfidence():
    logits, labels = overconfident(4000, sharpness=3.0)
    log_probs = log_probabilities(logits, logits=True)
    temperature = fit_temperature(log_probs, labels)
    assert temperature == pytest.approx(3.0, rel=0.15)
    assert negative_log_likelihood(log_probs, labels, temperature) < negative_log_likelihood(log_probs, labels, 1.0)


def test_temperature_of_calibrated_model_is_near_one():
    logits, labels = overconfident(4000, sharpness=1.0, seed=1)
    assert fit_temperature(log_probabilities(logits, logits=True), labels) == pytest.approx(1.0, rel=0.15)


def test_probabilities_and_logits_give_the_same_log_probabilities():
    logits, _ = overconfident(50)
    from_logits = log_probabilities(logits, logits=True)
    probabilities = np.exp(from_logits)
    assert np.allclose(log_probabilities(probabilities), from_logits, atol=1e-9)
    assert np.allclose(apply_temperature(from_logits, 1.0), probabilities)


def test_single_sigmoid_output_becomes_two_classes():
    p = np.array([[0.2], [0.9]])
    assert np.allclose(np.exp(log_probabilities(p)), [[0.8, 0.2], [0.1, 0.9]])


@pytest.mark.parametrize(
    "probabilities, labels, expected",
    [
        ([[1.0, 0.0], [0.0, 1.0]], [0, 1], 0.0),  # confident and right
        ([[1.0, 0.0], [1.0, 0.0]], [1, 1], 1.0),  # confident and wrong
        ([[0.6, 0.4], [0.6, 0.4]], [0, 1], 0.1),  # confidence 0.6, accuracy 0.5
    ],
)
def test_ece_table(probabilities, labels, expected):
    assert expected_calibration_error(np.array(probabilities), np.array(labels)) == pytest.approx(expected)


def test_reliability_bins():
    table = reliability(np.array([[0.99, 0.01], [0.5, 0.5], [0.98, 0.02]]), np.array([0, 1, 1]))
    assert len(table.counts) == 15 and sum(table.counts) == 3
    assert table.counts[-1] == 2 and table.accuracy[-1] == pytest.approx(0.5)
    assert np.isnan(table.confidence[0])


def test_fit_calibration_lowers_ece():
    logits, labels = overconfident(3000, sharpness=3.0, seed=2)
    log_probs = log_probabilities(logits, logits=True)
    result = fit_calibration("auto", log_probs[:1500], labels[:1500], log_probs[1500:], labels[1500:])
    assert result.method == "temperature" and result.temperature > 2
    assert result.ece_after < result.ece_before
    assert set(result.to_dict()) == {"method", "temperature", "ece_before", "ece_after"}
    assert fit_calibration("none", log_probs, labels).method == "none"
    with pytest.raises(KprotoError) as error:
        fit_calibration("platt", log_probs, labels)
    assert error.value.field == "train.calibrate"


def test_decisions_round_trip():
    metrics = {"calibration": {"method": "temperature", "temperature": 2.0}, "threshold": {"value": 0.3}}
    decisions = Decisions.from_metrics(metrics)
    p = decisions.probabilities(np.array([[0.8, 0.2], [0.4, 0.6]]))
    assert p[0, 0] < 0.8 and p.sum(axis=1) == pytest.approx([1, 1])
    assert decisions.classes(np.array([[0.65, 0.35], [0.75, 0.25]])).tolist() == [1, 0]
    plain = Decisions.from_metrics({})
    assert plain.calibration == Calibration(method="none") and plain.threshold is None


def test_threshold_search_beats_half_on_imbalanced_scores():
    rng = np.random.default_rng(3)
    labels = (rng.random(2000) < 0.1).astype(int)
    positive = np.clip(0.15 + 0.25 * labels + rng.normal(0, 0.1, 2000), 0, 1)  # never above 0.5 for most positives
    threshold = choose_threshold(positive, labels, "f1")
    assert threshold < 0.5
    assert threshold_score("f1", positive, labels, threshold) > threshold_score("f1", positive, labels, 0.5)


def test_fit_threshold_records_both_scores():
    probabilities = np.array([[0.7, 0.3], [0.6, 0.4], [0.2, 0.8], [0.9, 0.1]])
    labels = np.array([1, 1, 1, 0])
    record = fit_threshold("auto", "f1", probabilities, labels)
    assert record["value"] <= 0.3 and record["validation_at_threshold"] >= record["validation_at_0.5"]
    assert fit_threshold(0.7, "f1", probabilities, labels)["value"] == 0.7
    assert fit_threshold("auto", "f1", np.ones((3, 3)) / 3, np.array([0, 1, 2])) is None
    with pytest.raises(KprotoError):
        fit_threshold(1.5, "f1", probabilities, labels)
    with pytest.raises(KprotoError) as error:
        threshold_score("f_1", probabilities[:, 1], labels, 0.5)
    assert error.value.field == "train.threshold_metric" and "f1" in error.value.message


def test_decide_uses_argmax_for_many_classes():
    p = np.array([[0.2, 0.3, 0.5]])
    assert decide(p, 0.1).tolist() == [2]
