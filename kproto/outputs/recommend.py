"""Using a trained recommender: ranking evaluation, top-N recommendations for a user, similar items.

Everything works from the packed arrays of a Dataset (see kproto.data.interactions) and the model's predict.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kproto.core.errors import KprotoError
from kproto.data.interactions import InteractionEncoder, candidate_rows, item_columns
from kproto.metrics.ranking import held_out_sets, mae, ranking_report, rmse, seen_mask, top_k

SCORED_ROWS = 500_000  # candidate rows per predict call when scoring every item
MAX_RANKED_USERS = 2000  # ranking evaluation scores every item for at most this many test users (seeded sample)


def side_tables(x_rows: np.ndarray, encoder: InteractionEncoder) -> tuple[np.ndarray, np.ndarray]:
    """Per-user and per-item side features recovered from packed rows (zeros where a user or item has no row)."""
    user_width = encoder.user_features.width
    users = np.zeros((len(encoder.users), user_width), dtype=np.float32)
    items = np.zeros((len(encoder.items), encoder.item_features.width), dtype=np.float32)
    user_index, item_index = x_rows[:, 0].astype(np.int64), x_rows[:, 1].astype(np.int64)
    users[user_index] = x_rows[:, 2 : 2 + user_width]
    items[item_index] = x_rows[:, 2 + user_width : encoder.pair_width]
    return users, items


def observed(x: np.ndarray, y: np.ndarray, encoder: InteractionEncoder) -> np.ndarray:
    """The user–item pairs of real interactions: implicit, the positives and not the sampled negatives;
    pairwise rows, the chosen item (first when the label is 1, second when 0) of the one row per interaction
    that the tally column marks."""
    if not encoder.implicit:
        return x
    if not encoder.pairwise:
        return x[y > 0.5]
    pair, item_width = encoder.pair_width, encoder.item_features.width
    counted = x[:, -1] > 0.5
    x, swapped = x[counted], y[counted] < 0.5
    rows = x[:, :pair].copy()
    rows[np.ix_(swapped, item_columns(pair, item_width))] = x[swapped, pair : pair + 1 + item_width]
    return rows


def score_users(
    predict: Any,
    users: np.ndarray,
    user_features: np.ndarray,
    item_features: np.ndarray,
    width: int | None = None,
) -> np.ndarray:
    """[len(users), num_items] scores of every item for each user index (users scored in chunks of ~500k rows);
    `width` is the model's input width when it is wider than a pair (pairwise rows)."""
    items = np.arange(len(item_features))
    chunk = max(1, SCORED_ROWS // max(len(items), 1))
    scores = []
    for start in range(0, len(users), chunk):
        group = users[start : start + chunk]
        rows = np.concatenate([candidate_rows(int(u), user_features[u], items, item_features, width) for u in group])
        scores.append(np.asarray(predict(rows)).reshape(len(group), len(items)))
    return np.concatenate(scores) if scores else np.zeros((0, len(items)))


def ranking_evaluation(
    predict: Any,
    encoder: InteractionEncoder,
    train: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    k: int,
    seed: int = 0,
) -> dict[str, Any]:
    """recall@k, ndcg@k and hit rate of the model's top k unseen items against each test user's interactions.

    Users unknown in training (cold start) are ranked through the unknown-user slot and reported apart.
    """
    train_rows, test_rows = observed(*train, encoder), observed(*test, encoder)
    if len(test_rows) == 0:
        return {}
    all_rows = np.concatenate([train_rows, test_rows])
    user_features, item_features = side_tables(all_rows, encoder)
    users = np.unique(test_rows[:, 0].astype(np.int64))
    if len(users) > MAX_RANKED_USERS:
        users = np.sort(np.random.default_rng(seed).choice(users, MAX_RANKED_USERS, replace=False))
    scores = score_users(predict, users, user_features, item_features, encoder.width)
    exclude = seen_mask(train_rows[:, 0], train_rows[:, 1], users, len(encoder.items))
    ranked = top_k(scores, k, exclude).tolist()
    relevant = held_out_sets(test_rows[:, 0], test_rows[:, 1], users)
    report: dict[str, Any] = ranking_report(ranked, relevant, k)
    report["ranked_users"] = int(len(users))
    report.update(cold_start_counts(test_rows))
    return report


def cold_start_counts(x: np.ndarray) -> dict[str, int]:
    """Rows whose user, item, or either was not seen in training (they go through the unknown slots)."""
    users, items = x[:, 0] == 0, x[:, 1] == 0
    return {
        "cold_start_rows": int((users | items).sum()),
        "unknown_user_rows": int(users.sum()),
        "unknown_item_rows": int(items.sum()),
    }


def rating_evaluation(predict: Any, x: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """RMSE and MAE overall, and apart for rows whose user or item was not seen in training (cold start)."""
    if len(x) == 0:
        return {}
    predicted = np.asarray(predict(x)).reshape(-1)
    report: dict[str, Any] = {"rmse": rmse(y, predicted), "mae": mae(y, predicted), **cold_start_counts(x)}
    cold = (x[:, 0] == 0) | (x[:, 1] == 0)
    if cold.any():
        report["cold_start_rmse"] = rmse(y[cold], predicted[cold])
    if (~cold).any():
        report["warm_rmse"] = rmse(y[~cold], predicted[~cold])
    return report


def recommend_for_user(
    predict: Any,
    encoder: InteractionEncoder,
    train: tuple[np.ndarray, np.ndarray],
    user: str,
    top: int,
) -> list[dict[str, Any]]:
    """The `top` best-scored items the user has not interacted with in training, best first."""
    train_rows = observed(*train, encoder)
    index = int(encoder.users.lookup([user])[0])
    user_features, item_features = side_tables(train_rows, encoder)
    scores = score_users(predict, np.array([index]), user_features, item_features, encoder.width)
    exclude = seen_mask(train_rows[:, 0], train_rows[:, 1], np.array([index]), len(encoder.items))
    if index == 0:
        exclude[:] = False
        exclude[:, 0] = True
    best = top_k(scores, top, exclude)[0]
    return [
        {"rank": rank, "item": encoder.items.value(int(i)), "score": float(scores[0, i]), "known_user": index != 0}
        for rank, i in enumerate(best, start=1)
    ]


def similar_items(embeddings: np.ndarray, encoder: InteractionEncoder, item: str, top: int) -> list[dict[str, Any]]:
    """The `top` items whose embeddings have the highest cosine similarity to `item`'s."""
    index = int(encoder.items.lookup([item])[0])
    if index == 0:
        known = ", ".join(encoder.items.values[:8])
        raise KprotoError(
            f"the item {item!r} was not seen in training, so it has no embedding",
            field="--similar",
            hint=f"pass an item of the training data, e.g. {known}",
        )
    norms = np.linalg.norm(embeddings, axis=1)
    similarity = embeddings @ embeddings[index] / np.maximum(norms * norms[index], 1e-12)
    similarity[[0, index]] = -np.inf
    best = top_k(similarity[None, :], top)[0]
    return [
        {"rank": rank, "item": encoder.items.value(int(i)), "similarity": float(similarity[i])}
        for rank, i in enumerate(best, start=1)
    ]
