"""Rating errors, ranking metrics and the recommender baselines, on hand-checked cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from kproto.metrics.ranking import (
    BiasBaseline,
    held_out_sets,
    hit_rate_at_k,
    mae,
    most_popular_report,
    ndcg_at_k,
    rating_baselines,
    recall_at_k,
    rmse,
    seen_mask,
    top_k,
)


def test_rmse_and_mae() -> None:
    assert rmse(np.array([1.0, 2.0]), np.array([2.0, 4.0])) == pytest.approx(math.sqrt(2.5))
    assert mae(np.array([1.0, 2.0]), np.array([2.0, 4.0])) == pytest.approx(1.5)
    assert rmse(np.array([]), np.array([])) == 0.0


def test_top_k_orders_best_first_and_skips_excluded() -> None:
    scores = np.array([[0.1, 0.9, 0.5, 0.7], [4.0, 3.0, 2.0, 1.0]])
    assert top_k(scores, 2).tolist() == [[1, 3], [0, 1]]
    exclude = np.array([[False, True, False, False], [True, False, False, False]])
    assert top_k(scores, 2, exclude).tolist() == [[3, 2], [1, 2]]
    assert top_k(scores, 10).shape == (2, 4)


@pytest.mark.parametrize(
    ("ranked", "relevant", "k", "recall", "hit", "ndcg"),
    [
        ([[1, 2, 3]], [{1}], 3, 1.0, 1.0, 1.0),
        ([[1, 2, 3]], [{3}], 3, 1.0, 1.0, 1 / math.log2(4)),
        ([[1, 2, 3]], [{4}], 3, 0.0, 0.0, 0.0),
        ([[1, 2, 3]], [{2, 9}], 3, 0.5, 1.0, (1 / math.log2(3)) / (1 + 1 / math.log2(3))),
        ([[1, 2], [5, 6]], [{1}, {7}], 2, 0.5, 0.5, 0.5),
        ([[1, 2]], [set()], 2, 0.0, 0.0, 0.0),  # users without held-out items are left out
    ],
)
def test_ranking_metrics(ranked, relevant, k, recall, hit, ndcg) -> None:
    assert recall_at_k(ranked, relevant, k) == pytest.approx(recall)
    assert hit_rate_at_k(ranked, relevant, k) == pytest.approx(hit)
    assert ndcg_at_k(ranked, relevant, k) == pytest.approx(ndcg)


def test_bias_baseline_recovers_additive_ratings() -> None:
    rng = np.random.default_rng(0)
    user_bias, item_bias = rng.normal(0, 0.5, 30), rng.normal(0, 0.5, 40)
    user_bias[0] = item_bias[0] = 0.0
    users, items = rng.integers(1, 30, 3000), rng.integers(1, 40, 3000)
    ratings = 3.5 + user_bias[users] + item_bias[items]
    model = BiasBaseline.fit(users, items, ratings, 30, 40, regularization=0.0, iterations=30)
    assert np.abs(model.predict(users, items) - ratings).max() < 1e-3
    assert model.predict(np.array([0]), np.array([0]))[0] == pytest.approx(model.mean)  # cold start: the mean


def test_item_regularization_shrinks_only_the_item_biases() -> None:
    rng = np.random.default_rng(2)
    users, items = rng.integers(1, 10, 500), rng.integers(1, 8, 500)
    ratings = 3 + 0.2 * users - 0.2 * items + rng.normal(0, 0.3, 500)
    same = BiasBaseline.fit(users, items, ratings, 10, 8, regularization=2.0)
    assert np.array_equal(
        BiasBaseline.fit(users, items, ratings, 10, 8, 2.0, item_regularization=2.0).item_bias, same.item_bias
    )
    loose = BiasBaseline.fit(users, items, ratings, 10, 8, regularization=2.0, item_regularization=1e6)
    assert np.abs(loose.item_bias).max() < 1e-3 < np.abs(same.item_bias).max()  # items shrunk to 0
    assert np.abs(loose.user_bias).max() > 0.5  # users still fitted (and take up what the items no longer say)


def test_tuned_bias_baseline_picks_each_sides_shrinkage_on_validation() -> None:
    rng = np.random.default_rng(3)
    item_effect = np.r_[0.0, rng.normal(0, 1.0, 20)]  # items differ; users are pure noise around the mean
    users, items = rng.integers(1, 400, 6000), rng.integers(1, 21, 6000)
    ratings = 3 + item_effect[items] + rng.normal(0, 1.0, 6000)
    train, validation = (users[:5000], items[:5000], ratings[:5000]), (users[5000:], items[5000:], ratings[5000:])
    shrinkages = (1.0, 5.0, 50.0)
    model, (user_shrinkage, item_shrinkage) = BiasBaseline.tuned(train, validation, 400, 21, shrinkages)
    assert (user_shrinkage, item_shrinkage) == (50.0, 1.0)

    def error(fitted: BiasBaseline) -> float:
        return float(np.mean((fitted.predict(users[5000:], items[5000:]) - ratings[5000:]) ** 2))

    one_shrinkage = [BiasBaseline.fit(*train, 400, 21, regularization=s) for s in shrinkages]
    assert error(model) < min(error(fitted) for fitted in one_shrinkage)
    _, pair = BiasBaseline.tuned(train, None, 400, 21, shrinkages, default=5.0)
    assert pair == (5.0, 5.0)  # no validation rows: the default for both sides


def test_rating_baselines_bias_beats_mean_on_additive_data() -> None:
    rng = np.random.default_rng(1)
    users, items = rng.integers(1, 20, 2000), rng.integers(1, 20, 2000)
    ratings = 3 + 0.1 * users - 0.1 * items + rng.normal(0, 0.1, 2000)
    result = rating_baselines(
        users[:1500], items[:1500], ratings[:1500], users[1500:], items[1500:], ratings[1500:], 20, 20
    )
    assert result["user_item_bias_rmse"] < 0.5 * result["global_mean_rmse"]
    assert set(result) == {"global_mean_rmse", "global_mean_mae", "user_item_bias_rmse", "user_item_bias_mae"}


def test_seen_mask_and_held_out_sets() -> None:
    users, items = np.array([1, 1, 2]), np.array([3, 4, 3])
    mask = seen_mask(users, items, np.array([2, 1]), 5)
    assert mask.tolist() == [[True, False, False, True, False], [True, False, False, True, True]]
    assert held_out_sets(np.array([1, 2, 2, 3]), np.array([1, 2, 0, 4]), np.array([1, 2])) == [{1}, {2}]


def test_most_popular_recommends_unseen_popular_items() -> None:
    train_users = np.array([1, 2, 3, 1, 2, 3])
    train_items = np.array([1, 1, 1, 2, 2, 3])
    # user 1 has seen 1 and 2: the most popular unseen item is 3
    report = most_popular_report(train_users, train_items, np.array([1, 2]), np.array([3, 4]), 6, k=1)
    assert report["most_popular_hit_rate@1"] == 0.5
    assert report["most_popular_recall@1"] == 0.5
