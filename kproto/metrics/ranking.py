"""Recommender scores and baselines: RMSE/MAE of ratings, recall@k, ndcg@k and hit rate of ranked lists.

NumPy only: importable without Keras.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


def rmse(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Root mean squared error."""
    diff = np.asarray(y_pred, dtype=np.float64).reshape(-1) - np.asarray(y_true, dtype=np.float64).reshape(-1)
    return float(np.sqrt(np.mean(diff**2))) if diff.size else 0.0


def mae(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean absolute error."""
    diff = np.asarray(y_pred, dtype=np.float64).reshape(-1) - np.asarray(y_true, dtype=np.float64).reshape(-1)
    return float(np.mean(np.abs(diff))) if diff.size else 0.0


def top_k(scores: np.ndarray, k: int, exclude: np.ndarray | None = None) -> np.ndarray:
    """Column indices of the `k` highest scores of each row, best first; `exclude` (boolean, same shape) is skipped."""
    scores = np.array(scores, dtype=np.float64)
    if exclude is not None:
        scores[exclude] = -np.inf
    k = min(k, scores.shape[1])
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)


def recall_at_k(ranked: Sequence[Sequence[int]], relevant: Sequence[set[int]], k: int) -> float:
    """Mean over users with held-out items of |top-k ∩ relevant| / |relevant|."""
    values = [len(set(r[:k]) & rel) / len(rel) for r, rel in zip(ranked, relevant) if rel]
    return float(np.mean(values)) if values else 0.0


def hit_rate_at_k(ranked: Sequence[Sequence[int]], relevant: Sequence[set[int]], k: int) -> float:
    """Share of users with held-out items that have at least one of them in their top k."""
    values = [bool(set(r[:k]) & rel) for r, rel in zip(ranked, relevant) if rel]
    return float(np.mean(values)) if values else 0.0


def ndcg_at_k(ranked: Sequence[Sequence[int]], relevant: Sequence[set[int]], k: int) -> float:
    """Mean normalized discounted cumulative gain with binary relevance: DCG / ideal DCG at k."""
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    values = []
    for r, rel in zip(ranked, relevant):
        if not rel:
            continue
        gains = np.array([item in rel for item in r[:k]], dtype=np.float64)
        ideal = discounts[: min(len(rel), k)].sum()
        values.append(float((gains * discounts[: len(gains)]).sum() / ideal))
    return float(np.mean(values)) if values else 0.0


def ranking_report(ranked: Sequence[Sequence[int]], relevant: Sequence[set[int]], k: int) -> dict[str, float]:
    """recall@k, ndcg@k and hit_rate@k, keyed with the value of k."""
    return {
        f"recall@{k}": recall_at_k(ranked, relevant, k),
        f"ndcg@{k}": ndcg_at_k(ranked, relevant, k),
        f"hit_rate@{k}": hit_rate_at_k(ranked, relevant, k),
    }


@dataclass
class BiasBaseline:
    """Rating = global mean + user bias + item bias, fitted by regularized alternating least squares."""

    mean: float
    user_bias: np.ndarray
    item_bias: np.ndarray

    @classmethod
    def fit(
        cls,
        users: np.ndarray,
        items: np.ndarray,
        ratings: np.ndarray,
        num_users: int,
        num_items: int,
        regularization: float = 5.0,
        iterations: int = 10,
        item_regularization: float | None = None,
    ) -> BiasBaseline:
        """Biases shrunk towards zero by `regularization` ratings (the item biases by `item_regularization` when
        given); index 0, the unknown slot, keeps bias 0."""
        users, items = np.asarray(users, dtype=np.int64), np.asarray(items, dtype=np.int64)
        ratings = np.asarray(ratings, dtype=np.float64)
        mean = float(ratings.mean()) if ratings.size else 0.0
        user_bias, item_bias = np.zeros(num_users), np.zeros(num_items)
        item_shrinkage = regularization if item_regularization is None else item_regularization
        user_count = np.bincount(users, minlength=num_users) + regularization
        item_count = np.bincount(items, minlength=num_items) + item_shrinkage

        def shrunk_mean(index: np.ndarray, residual: np.ndarray, count: np.ndarray) -> np.ndarray:
            total = np.bincount(index, weights=residual, minlength=len(count))
            return np.divide(total, count, out=np.zeros(len(count)), where=count > 0)

        for _ in range(iterations):
            user_bias = shrunk_mean(users, ratings - mean - item_bias[items], user_count)
            item_bias = shrunk_mean(items, ratings - mean - user_bias[users], item_count)
        user_bias[0] = item_bias[0] = 0.0
        return cls(mean, user_bias, item_bias)

    @classmethod
    def tuned(
        cls,
        train: tuple[np.ndarray, np.ndarray, np.ndarray],
        validation: tuple[np.ndarray, np.ndarray, np.ndarray] | None,
        num_users: int,
        num_items: int,
        shrinkages: Sequence[float],
        default: float = 5.0,
    ) -> tuple[BiasBaseline, tuple[float, float]]:
        """The bias model fitted on `train` (users, items, ratings) with the user and the item shrinkage each picked
        among `shrinkages` by squared error on `validation` (as a mixed model estimates one variance per side: a
        few ratings of a noisy user say less than as many of an item); without validation rows, `default` for both.
        Returns the model and its (user, item) shrinkages."""

        def fitted(pair: tuple[float, float]) -> BiasBaseline:
            return cls.fit(*train, num_users, num_items, regularization=pair[0], item_regularization=pair[1])

        pair = (default, default)
        if validation is not None and len(validation[2]):
            users, items, ratings = validation
            pairs = [(u, i) for u in shrinkages for i in shrinkages]
            pair = min(pairs, key=lambda p: float(np.mean((fitted(p).predict(users, items) - ratings) ** 2)))
        return fitted(pair), pair

    def predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        users, items = np.asarray(users, dtype=np.int64), np.asarray(items, dtype=np.int64)
        return self.mean + self.user_bias[users] + self.item_bias[items]


def rating_baselines(
    train_users: np.ndarray,
    train_items: np.ndarray,
    train_ratings: np.ndarray,
    test_users: np.ndarray,
    test_items: np.ndarray,
    test_ratings: np.ndarray,
    num_users: int,
    num_items: int,
) -> dict[str, float]:
    """RMSE and MAE on the test rows of the global mean and of the user+item bias model, fitted on training rows."""
    if len(test_ratings) == 0:
        return {}
    mean = float(np.mean(train_ratings))
    biases = BiasBaseline.fit(train_users, train_items, train_ratings, num_users, num_items)
    predicted = biases.predict(test_users, test_items)
    return {
        "global_mean_rmse": rmse(test_ratings, np.full(len(test_ratings), mean)),
        "global_mean_mae": mae(test_ratings, np.full(len(test_ratings), mean)),
        "user_item_bias_rmse": rmse(test_ratings, predicted),
        "user_item_bias_mae": mae(test_ratings, predicted),
    }


def popularity_scores(train_items: np.ndarray, num_items: int) -> np.ndarray:
    """Training interactions per item (index 0, the unknown item, scores lowest)."""
    counts = np.bincount(np.asarray(train_items, dtype=np.int64), minlength=num_items).astype(np.float64)
    counts[0] = -1.0
    return counts


def seen_mask(users: np.ndarray, items: np.ndarray, user_rows: np.ndarray, num_items: int) -> np.ndarray:
    """Boolean [len(user_rows), num_items]: True where the user (by index) interacted with the item in training."""
    position = {int(u): i for i, u in enumerate(user_rows)}
    mask = np.zeros((len(user_rows), num_items), dtype=bool)
    for u, i in zip(np.asarray(users, dtype=np.int64), np.asarray(items, dtype=np.int64)):
        row = position.get(int(u))
        if row is not None:
            mask[row, i] = True
    mask[:, 0] = True  # never recommend the unknown-item slot
    return mask


def held_out_sets(users: np.ndarray, items: np.ndarray, user_rows: np.ndarray) -> list[set[int]]:
    """For each user of `user_rows`, the set of item indices it interacted with in (`users`, `items`)."""
    position = {int(u): i for i, u in enumerate(user_rows)}
    sets: list[set[int]] = [set() for _ in user_rows]
    for u, i in zip(np.asarray(users, dtype=np.int64), np.asarray(items, dtype=np.int64)):
        if int(u) in position and int(i) != 0:
            sets[position[int(u)]].add(int(i))
    return sets


def most_popular_report(
    train_users: np.ndarray,
    train_items: np.ndarray,
    test_users: np.ndarray,
    test_items: np.ndarray,
    num_items: int,
    k: int,
) -> dict[str, float]:
    """Ranking scores of recommending every user the most popular items it has not seen."""
    user_rows = np.unique(np.asarray(test_users, dtype=np.int64))
    if len(user_rows) == 0:
        return {}
    popular = popularity_scores(train_items, num_items)
    scores = np.broadcast_to(popular, (len(user_rows), num_items))
    ranked = top_k(scores, k, seen_mask(train_users, train_items, user_rows, num_items))
    relevant = held_out_sets(test_users, test_items, user_rows)
    return {f"most_popular_{name}": value for name, value in ranking_report(ranked.tolist(), relevant, k).items()}
