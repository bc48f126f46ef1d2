"""Split conformal prediction sets and intervals (pure NumPy, no training)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from kproto.core.errors import KprotoError
from kproto.metrics.conformal import (
    LAC,
    Conformal,
    check_coverage,
    classification_scores,
    conformal_quantile,
    interval_coverage,
    regression_scores,
    set_coverage,
    set_labels,
)


def noisy_classifier(rows: int, seed: int):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(rows, 4)) * 2
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    labels = np.array([rng.choice(4, p=row) for row in p])
    return p, labels


@pytest.mark.parametrize("coverage", [0.8, 0.9, 0.95])
def test_classification_sets_reach_coverage(coverage):
    p_val, y_val = noisy_classifier(1000, 0)
    p_test, y_test = noisy_classifier(2000, 1)
    conformal = Conformal.fit("classification", classification_scores(p_val, y_val))
    summary = set_coverage(conformal.sets(p_test, coverage), y_test)
    assert abs(summary["coverage"] - coverage) < 0.04
    assert 0 < summary["mean_set_size"] <= 4


@pytest.mark.parametrize("coverage", [0.8, 0.9, 0.95])
def test_regression_intervals_reach_coverage(coverage):
    rng = np.random.default_rng(2)
    predicted, actual = rng.normal(size=3000), None
    actual = predicted + rng.standard_t(4, size=3000)
    conformal = Conformal.fit("regression", regression_scores(predicted[:1000], actual[:1000]))
    lower, upper = conformal.intervals(predicted[1000:], coverage)
    summary = interval_coverage(lower, upper, actual[1000:])
    assert abs(summary["coverage"] - coverage) < 0.04
    assert summary["mean_width"] == pytest.approx(2 * conformal.quantile(coverage))


def test_quantile_rank_and_small_samples():
    scores = np.arange(1, 10, dtype=float)  # n = 9: coverage 0.9 needs rank ceil(10 * 0.9) = 9
    assert conformal_quantile(scores, 0.9) == 9.0
    assert conformal_quantile(scores, 0.5) == 5.0
    assert math.isinf(conformal_quantile(scores, 0.95))  # rank 10 > n
    assert math.isinf(conformal_quantile(np.array([]), 0.9))


def test_sets_may_be_empty_and_join_labels():
    conformal = Conformal.fit("classification", np.full(50, 0.3))  # quantile 0.3: classes with p >= 0.7
    conformal.score = LAC
    members = conformal.sets(np.array([[0.8, 0.15, 0.05], [0.1, 0.45, 0.45]]), 0.9)
    assert members.sum(axis=1).tolist() == [1, 0]
    assert set_labels(members, ["a", "b", "c"]) == ["a", ""]
    wide = Conformal.fit(
        "classification",
        np.full(50, 0.8),
    )
    wide.score = LAC
    assert set_labels(wide.sets(np.array([[0.6, 0.3, 0.1]]), 0.9), ["a", "b", "c"]) == ["a|b"]


def test_aps_sets_are_top_k_and_the_same_wherever_a_row_sits():
    p_val, y_val = noisy_classifier(500, 3)
    conformal = Conformal.fit("classification", classification_scores(p_val, y_val))
    p_test, _ = noisy_classifier(300, 4)
    members = conformal.sets(p_test, 0.9)
    ranks = np.argsort(np.argsort(-p_test, axis=1), axis=1)
    for row, rank in zip(members, ranks):  # members are exactly the k most probable classes
        assert sorted(rank[row].tolist()) == list(range(int(row.sum())))
    reversed_members = conformal.sets(p_test[::-1], 0.9)[::-1]
    assert np.array_equal(members, reversed_members)
    assert np.array_equal(conformal.sets(p_test[:7], 0.9), members[:7])


def test_round_trip_through_json():
    conformal = Conformal.fit("regression", np.array([0.5, 0.1, 0.3, 2.0]))
    data = conformal.to_dict()
    assert data["scores"] == sorted(data["scores"]) and data["quantiles"]["0.9"] is None  # too few rows: infinite
    again = Conformal.from_dict(data)
    assert again.quantile(0.5) == conformal.quantile(0.5) == 0.5  # rank ceil(5 * 0.5) = 3
    assert math.isinf(again.quantiles["0.9"])


@pytest.mark.parametrize("bad", [0, 1, 1.5, -0.1, "x", float("nan")])
def test_bad_coverage(bad):
    with pytest.raises(KprotoError) as error:
        check_coverage(bad)
    assert error.value.field == "--coverage"
