"""How much the rating sets leave beyond the user+item biases, measured without Keras on quality_ratings' split.

    python bench/ratings_headroom.py                 # both sets, seeds 0 1 2

Per set and seed: the test RMSE of the bias model with one shrinkage picked on the validation rows (the floor's
baseline), and with the user and the item shrinkage picked separately (BiasBaseline.tuned, where kproto's default
rating recommender starts), with the standard error of their difference from a bootstrap over test users (200
resamples, paired). Then the ceiling of what embeddings add on top of the one-shrinkage biases: a rank-k
factorisation of the training residuals by exact alternating least squares (rank 32, ridge 20 or 50 picked
on validation, 10 sweeps). Writes bench/results/ratings-headroom-<stamp>.json.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quality_ratings import RESULTS, SHRINKAGES, load_sets  # noqa: E402


def rmse(predicted: np.ndarray, actual: np.ndarray) -> float:
    return float(np.sqrt(np.mean((predicted - actual) ** 2)))


def factorised(users, items, residual, num_users, num_items, rank, ridge, sweeps=10, seed=0):
    """User and item factors of the residual matrix by regularised alternating least squares."""
    import scipy.sparse as sparse

    rng = np.random.default_rng(seed)
    user_factors, item_factors = rng.normal(0, 0.05, (num_users, rank)), rng.normal(0, 0.05, (num_items, rank))
    by_user = sparse.csr_matrix((residual, (users, items)), shape=(num_users, num_items))
    by_item = by_user.T.tocsr()

    def solve(matrix, fixed, out):
        for row in range(matrix.shape[0]):
            start, end = matrix.indptr[row], matrix.indptr[row + 1]
            chosen = fixed[matrix.indices[start:end]]
            gram = chosen.T @ chosen + ridge * np.eye(rank)
            out[row] = np.linalg.solve(gram, chosen.T @ matrix.data[start:end]) if end > start else 0.0

    for _ in range(sweeps):
        solve(by_user, item_factors, user_factors)
        solve(by_item, user_factors, item_factors)
    return user_factors, item_factors


def measure(frame, user: str, item: str, rating: str, when: str, seed: int) -> dict:
    """One set and seed: the bias models, their paired difference's standard error and the factorisation ceiling."""
    from kproto.data.interactions import IndexMap, split_interactions
    from kproto.metrics.ranking import BiasBaseline

    train, validation, test = split_interactions(frame, user, "user", when, 0.1, 0.1, seed)
    users, items = IndexMap.fit(frame[user].iloc[train]), IndexMap.fit(frame[item].iloc[train])
    num_users, num_items = len(users) + 1, len(items) + 1

    def part(chosen_rows):
        chosen = frame.iloc[chosen_rows]
        return users.lookup(chosen[user]), items.lookup(chosen[item]), chosen[rating].to_numpy(np.float64)

    (tu, ti, tr), (vu, vi, vr), (su, si, sr) = part(train), part(validation), part(test)

    def one(shrinkage: float) -> BiasBaseline:
        return BiasBaseline.fit(tu, ti, tr, num_users, num_items, regularization=shrinkage)

    single = min(SHRINKAGES, key=lambda s: rmse(one(s).predict(vu, vi), vr))
    base = one(single)
    separate, pair = BiasBaseline.tuned((tu, ti, tr), (vu, vi, vr), num_users, num_items, SHRINKAGES)
    base_errors = (base.predict(su, si) - sr) ** 2
    separate_errors = (separate.predict(su, si) - sr) ** 2
    groups = [np.flatnonzero(su == u) for u in np.unique(su)]
    rng = np.random.default_rng(0)
    differences = []
    for _ in range(200):
        pick = np.concatenate([groups[g] for g in rng.integers(0, len(groups), len(groups))])
        differences.append(np.sqrt(separate_errors[pick].mean()) - np.sqrt(base_errors[pick].mean()))
    residual = tr - base.predict(tu, ti)
    options = []
    for rank in (32,):
        for ridge in (20.0, 50.0):
            p, q = factorised(tu, ti, residual, num_users, num_items, rank, ridge)
            val = rmse(base.predict(vu, vi) + (p[vu] * q[vi]).sum(1), vr)
            options.append((val, rmse(base.predict(su, si) + (p[su] * q[si]).sum(1), sr), rank, ridge))
    best = min(options)
    return {
        "seed": seed,
        "bias_one_shrinkage": {
            "shrinkage": single,
            "validation": rmse(base.predict(vu, vi), vr),
            "test": rmse(base.predict(su, si), sr),
        },
        "bias_separate_shrinkages": {
            "shrinkages": pair,
            "validation": rmse(separate.predict(vu, vi), vr),
            "test": rmse(separate.predict(su, si), sr),
        },
        "separate_minus_one_test": float(np.sqrt(separate_errors.mean()) - np.sqrt(base_errors.mean())),
        "bootstrap_se": float(np.std(differences)),
        "als_on_residuals": {"rank": best[2], "ridge": best[3], "validation": best[0], "test": best[1]},
    }


def main() -> int:
    rows = []
    for name, (frame, user, item, rating, when) in load_sets().items():
        for seed in (0, 1, 2):
            row = {**measure(frame, user, item, rating, when, seed), "set": name}
            print(json.dumps(row), flush=True)
            rows.append(row)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"ratings-headroom-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(rows, indent=2))
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
