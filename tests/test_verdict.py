"""kproto.metrics.verdict: the model against its best baseline, in the metric's direction."""

from __future__ import annotations

import pytest

from kproto.metrics.verdict import baseline_label, verdict

BASELINES = {
    "majority": {"accuracy": 0.62},
    "linear": {"accuracy": 0.80, "auc": 0.84},
    "gradient_boosting": {"accuracy": 0.77},
}


@pytest.mark.parametrize(
    ("score", "wins", "words"), [(0.79, False, "reaches"), (0.80, True, "ties the best"), (0.9, True, "beats every")]
)
def test_higher_is_better_metric(score: float, wins: bool, words: str) -> None:
    result = verdict("accuracy", score, BASELINES)
    assert result is not None
    assert result["best_baseline"] == "linear" and result["baseline"] == 0.80
    assert result["higher_is_better"] is True
    assert result["model_wins"] is wins
    assert result["model_wins"] == (result["model"] >= result["baseline"])
    assert words in result["message"]
    assert ("beats every baseline" in result["message"]) is (score > 0.80)  # a tie is a tie in words


def test_scores_equal_to_four_digits_are_shown_with_the_digits_that_differ() -> None:
    result = verdict("accuracy", 0.799412, {"linear": {"accuracy": 0.799401}})
    assert result is not None and result["model_wins"] is True
    assert result["message"] == (
        "this model's accuracy 0.79941 on the test rows beats every baseline (best: linear, 0.7994)"
    )
    behind = verdict("accuracy", 0.799401, {"linear": {"accuracy": 0.799412}})
    assert behind is not None and behind["message"] == (
        "linear reaches 0.79941 accuracy on the same test rows; this model 0.7994"
    )


def test_lower_is_better_metric_picks_the_smallest_error() -> None:
    result = verdict("mae", 1.2, {"last_value": {"mae": 1.33}, "seasonal_naive": {"mae": 0.9}})
    assert result is not None
    assert result["best_baseline"] == "seasonal_naive"
    assert result["higher_is_better"] is False
    assert result["model_wins"] is False
    assert result["message"].startswith("seasonal naive reaches 0.9 mae")


def test_no_comparable_baseline_gives_none() -> None:
    assert verdict("f1", 0.5, BASELINES) is None
    assert verdict("accuracy", float("nan"), BASELINES) is None
    assert verdict("accuracy", 0.5, {"broken": {"accuracy": float("nan")}}) is None


def test_baseline_label() -> None:
    assert baseline_label("gradient_boosting") == "gradient boosting"
