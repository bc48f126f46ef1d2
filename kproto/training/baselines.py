"""Baselines beside every result: what a practitioner would try first, fitted on the run's training split and scored
on the same rows as the model, and the verdict that compares them (forecasting windows get theirs, last value,
seasonal naive and linear autoregression, from kproto.training.forecasting).

metrics.json holds three entries (see README, "Baselines and the verdict"):
  baselines       {name: {metric: value}}, on the split `baselines_info.split` names (test, else validation)
  baselines_info  {"split", "rows", "train_rows", "seconds": {name: s}, "sampled": {name: rows},
                  "sampled_reason": {name: why}, "skipped": {name: why}, "failed": {name: error}, "note": ...}
  verdict         kproto.metrics.verdict's dict: the model's score of one metric beside the best baseline's

A baseline never breaks training: a failure is recorded under `failed`, one that would exceed its time budget is
fitted on fewer rows or skipped, and said so under `sampled` or `skipped`. Baselines other than the majority class
and the mean fit on at most BASELINE_ROWS rows; `sampled_reason` says which of the two limits a sample came from.
"""

from __future__ import annotations

import importlib
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kproto.core import catalog
from kproto.core.text import clean
from kproto.metrics.classification import SCORED, classification_metrics
from kproto.metrics.verdict import baseline_label, verdict

BASELINE_ROWS = 20_000  # training rows a baseline fits on at most (a seeded sample)
PILOT_ROWS = 1_000  # training sets over PILOT_FROM rows: a fit on this many first estimates the full fit's time
PILOT_FROM = 5_000
BUDGET_SHARE = 0.02  # each baseline may take this share of the training time ...
MIN_BUDGET = 0.5  # ... but at least this many seconds
MAX_BUDGET = 60.0  # ... and at most this many
BACKGROUND_BUDGET = 5.0  # each baseline fitted while the model trains (BaselineJob) may take this many seconds
MIN_SAMPLE = 500  # a baseline that fits within its budget only on fewer rows is skipped
STREAMED_ROWS = 100_000  # streamed data: baselines score the first rows of the split, as the model's report does
REGRESSION_SCORED = ("mae", "mse", "rmse", "r2", "mape")
# The metric each packed family's verdict compares (its report's headline): seq2seq, ratings, rankings.
PACKED_VERDICT = ("exact_match", "rmse", "ndcg@")


@dataclass
class Outcome:
    """Scores of the baselines that ran, and what happened to the others."""

    scores: dict[str, dict[str, float]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    sampled: dict[str, int] = field(default_factory=dict)
    sampled_reason: dict[str, str] = field(default_factory=dict)  # the time budget or the row cap
    skipped: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    stopped: dict[str, str] = field(default_factory=dict)  # gradient boosting cut short by its budget

    def info(self, split: str, rows: int, train_rows: int, note: str = "") -> dict[str, Any]:
        block: dict[str, Any] = {"split": split, "rows": int(rows), "train_rows": int(train_rows)}
        for key in ("seconds", "sampled", "sampled_reason", "stopped", "skipped", "failed"):
            if getattr(self, key):
                block[key] = getattr(self, key)
        if note:
            block["note"] = note
        return block


# ----------------------------------------------------------------------------- which baselines
def applicable(task: str, kind: str) -> tuple[str, ...]:
    """The scikit-learn and forecasting baselines that apply to a task and kind of input, in the order they run (the
    seq2seq and recommender families bring their own: see `reference_baselines`)."""
    if kind in (catalog.PAIRS, catalog.INTERACTIONS):
        return ()
    if kind == catalog.MIXED:  # several inputs: a linear model on word counts beside the table columns
        first = {catalog.CLASSIFICATION: "majority", catalog.REGRESSION: "mean"}.get(task)
        return (first, "linear") if first else ()
    if task == catalog.CLASSIFICATION:
        return ("majority", "tfidf_linear") if kind == catalog.TEXT else ("majority", "linear", "gradient_boosting")
    if task == catalog.REGRESSION:
        if kind == catalog.WINDOW:
            return ("last_value", "seasonal_naive", "linear_ar")
        return ("mean", "tfidf_linear") if kind == catalog.TEXT else ("mean", "linear", "gradient_boosting")
    return ()


def chosen(setting: Any, names: tuple[str, ...]) -> list[str]:
    """`train.baselines`: auto (all that apply), none, or a list (those of it that apply)."""
    if setting in (None, "auto"):
        return list(names)
    if setting == "none":
        return []
    return [name for name in names if name in setting]


def budget_seconds(train_seconds: float) -> float:
    """Each baseline's time budget: BUDGET_SHARE of the training time, within [MIN_BUDGET, MAX_BUDGET]."""
    return float(min(max(BUDGET_SHARE * train_seconds, MIN_BUDGET), MAX_BUDGET))


MODULES = {  # the scikit-learn modules each baseline imports
    "majority": ("sklearn.dummy",),
    "mean": ("sklearn.dummy",),
    "linear": ("sklearn.linear_model",),
    "gradient_boosting": ("sklearn.ensemble",),
    "tfidf_linear": ("sklearn.linear_model", "sklearn.feature_extraction.text", "sklearn.pipeline"),
}


def prefetch_imports(recipe: Any, info: Any = None) -> threading.Thread | None:
    """Import the scikit-learn modules the run's baselines will need in a background thread, while the data loads
    and the model trains (a second or two that would otherwise be added to the end of `kproto train`); None when
    none are needed. Without `info` (before the data is read) the recipe says which apply."""
    if info is not None:
        task, kind = info.task, info.kind
    else:
        task = catalog.family(recipe.model.type).task or recipe.data.task or catalog.CLASSIFICATION
        kind = catalog.WINDOW if recipe.data.window is not None else catalog.TEXT if recipe.data.text else catalog.TABLE
    names = chosen(getattr(recipe.train, "baselines", "auto"), applicable(task, kind))
    modules = list(dict.fromkeys(m for name in names for m in MODULES.get(name, ())))
    if not modules:
        return None

    def load() -> None:
        for module in modules:
            try:
                importlib.import_module(module)
            except Exception:  # noqa: BLE001, S110 - the baseline itself reports the failure later
                return

    thread = threading.Thread(target=load, name="kproto-baseline-imports", daemon=True)
    thread.start()
    return thread


# ----------------------------------------------------------------------------- scikit-learn models
def _flat(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    return x.reshape(len(x), -1).astype(np.float32)


def _token_counts(x: np.ndarray, vocabulary: int) -> Any:
    """A sparse [rows, vocabulary] count matrix of token ids (0, padding, left out)."""
    from scipy.sparse import csr_matrix

    ids = np.asarray(x, dtype=np.int64)
    rows = np.repeat(np.arange(len(ids)), ids.shape[1])
    flat = ids.reshape(-1)
    keep = flat > 0
    return csr_matrix((np.ones(int(keep.sum())), (rows[keep], flat[keep])), shape=(len(ids), vocabulary))


def _several(parts: list[dict[str, Any]], x: np.ndarray) -> Any:
    """Several inputs in one sparse matrix: log(1 + word counts), pixels, table columns, one-hot categories."""
    from scipy.sparse import csr_matrix, hstack

    from kproto.data.inputs import unpack

    arrays = unpack(parts, np.asarray(x))
    blocks = []
    for part in parts:
        values = arrays[part["name"]]
        if part["name"] == "text":
            blocks.append(_token_counts(values, int(part["vocab"])).log1p())
        elif part["name"] == "categorical":
            blocks.append(_token_counts(values, int(part["vocab"])))  # one column per category (0: unseen, left out)
        else:
            blocks.append(csr_matrix(_flat(values)))
    return hstack(blocks, format="csr")


def _estimator(name: str, task: str, seed: int) -> Any:
    """The scikit-learn model behind a baseline's name (defaults, seeded); each imports only what it needs."""
    classify = task == catalog.CLASSIFICATION
    if name in ("majority", "mean"):
        from sklearn.dummy import DummyClassifier, DummyRegressor

        return DummyClassifier(strategy="prior") if classify else DummyRegressor(strategy="mean")
    if name == "gradient_boosting":
        from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

        if classify:
            return HistGradientBoostingClassifier(random_state=seed, early_stopping=False)
        return HistGradientBoostingRegressor(random_state=seed, early_stopping=False)
    from sklearn.linear_model import LogisticRegression, Ridge

    linear = LogisticRegression(max_iter=300) if classify else Ridge(alpha=1.0)
    if name == "linear":
        return linear
    if name == "tfidf_linear":
        from sklearn.feature_extraction.text import TfidfTransformer
        from sklearn.pipeline import make_pipeline

        return make_pipeline(TfidfTransformer(), linear)
    raise ValueError(f"unknown baseline {name!r}")


def _probabilities(model: Any, x: Any, classes: int) -> np.ndarray:
    """predict_proba spread onto all `classes` columns (a class missing from the fitted rows gets 0)."""
    proba = np.asarray(model.predict_proba(x), dtype=np.float64)
    full = np.zeros((proba.shape[0], classes))
    full[:, np.asarray(model.classes_, dtype=np.int64)] = proba
    return full


def regression_metrics(y: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """mae, mse, rmse, r2 and mape (in percent), as the catalog's regression metrics define them."""
    y = np.asarray(y, np.float64).reshape(-1)
    errors = np.asarray(predicted, np.float64).reshape(-1) - y
    total = float(np.sum((y - y.mean()) ** 2))
    return {
        "mae": float(np.mean(np.abs(errors))),
        "mse": float(np.mean(errors**2)),
        "rmse": float(np.sqrt(np.mean(errors**2))),
        "r2": float(1 - np.sum(errors**2) / total) if total > 0 else 0.0,
        "mape": float(100 * np.mean(np.abs(errors) / np.maximum(np.abs(y), 1e-7))),
    }


def _score(model: Any, task: str, x: Any, y: np.ndarray, classes: int) -> dict[str, float]:
    if task == catalog.CLASSIFICATION:
        return classification_metrics(y, _probabilities(model, x, classes))
    return regression_metrics(y, model.predict(x))


BOOSTING_ITERATIONS = 100  # scikit-learn's default max_iter
BOOSTING_STEP = 10  # gradient boosting grows this many iterations at a time, and stops when its budget is spent


def _fit_timed(
    name: str, task: str, seed: int, x: Any, y: np.ndarray, budget: float | None = None
) -> tuple[Any, float]:
    """(the fitted baseline, seconds). Gradient boosting with a `budget` grows BOOSTING_STEP iterations at a time
    (warm start) and stops before the next step would pass the budget; `model.n_iter_` says how far it got."""
    from threadpoolctl import threadpool_limits

    began = time.perf_counter()
    model = _estimator(name, task, seed)
    # One OpenMP and one BLAS thread: beside the deep-learning framework's thread pools more threads spin against
    # each other (gradient boosting ran ~8x slower in the training process with OpenMP's default, the logistic
    # regression of a 50k-row table many times slower with OpenBLAS's).
    with warnings.catch_warnings(), threadpool_limits(limits=1):
        warnings.simplefilter("ignore")  # convergence warnings of a baseline are not the user's concern
        if name != "gradient_boosting" or budget is None:
            return model.fit(x, y), time.perf_counter() - began
        total = BOOSTING_ITERATIONS
        model.set_params(warm_start=True)
        grown = 0
        while grown < total:
            grown = min(grown + BOOSTING_STEP, total)
            model.set_params(max_iter=grown).fit(x, y)
            spent = time.perf_counter() - began
            if grown < total and spent + spent / grown * BOOSTING_STEP > budget:
                break
    return model, time.perf_counter() - began


@dataclass
class Rows:
    """The arrays baselines fit on and are scored on (features already in scikit-learn's shape)."""

    x_train: Any
    y_train: np.ndarray
    x_eval: Any
    y_eval: np.ndarray


def fit_baselines(
    names: list[str], task: str, rows: Rows, classes: int, budget: float, seed: int, keep: tuple[str, ...]
) -> Outcome:
    """Fit each baseline on (a sample of) the training rows within `budget` seconds; score the metrics in `keep`."""
    outcome = Outcome()
    rng = np.random.default_rng(seed)
    n = rows.x_train.shape[0]
    order = rng.permutation(n)
    for name in names:
        try:
            trivial = name in ("majority", "mean")  # a count or a mean: every row, at no cost
            size = n if trivial else min(n, BASELINE_ROWS)
            if size > PILOT_FROM and not trivial:
                pilot = order[:PILOT_ROWS]
                _, took = _fit_timed(name, task, seed, rows.x_train[pilot], rows.y_train[pilot])
                estimate = took * size / PILOT_ROWS
                if estimate > budget:
                    size = int(budget / max(took, 1e-9) * PILOT_ROWS * 0.8)
                    if size < MIN_SAMPLE:
                        outcome.skipped[name] = (
                            f"would take about {estimate:.1f} s on {min(n, BASELINE_ROWS)} rows, over its budget "
                            f"of {budget:.1f} s"
                        )
                        continue
            picked = order[:size] if size < n else np.arange(n)
            model, took = _fit_timed(name, task, seed, rows.x_train[picked], rows.y_train[picked], budget)
            scores = _score(model, task, rows.x_eval, rows.y_eval, classes)
            outcome.scores[name] = {m: v for m, v in scores.items() if m in keep}
            outcome.seconds[name] = round(took, 3)
            if name == "gradient_boosting" and model.n_iter_ < BOOSTING_ITERATIONS:
                outcome.stopped[name] = (
                    f"{model.n_iter_} of {BOOSTING_ITERATIONS} boosting iterations within its {budget:.1f} s budget"
                )
            if size < n:
                outcome.sampled[name] = int(size)
                capped = size == BASELINE_ROWS
                outcome.sampled_reason[name] = (
                    f"at most {BASELINE_ROWS:,} rows per baseline" if capped else "time budget"
                )
        except Exception as exc:  # noqa: BLE001 - a baseline never breaks training
            outcome.failed[name] = f"{type(exc).__name__}: {exc}"[:300]
    return outcome


# ----------------------------------------------------------------------------- the block in metrics.json
def _split_of(results: dict[str, Any]) -> str:
    return "test" if results.get("test") else "validation"


def _model_scores(results: dict[str, Any], split: str) -> dict[str, float]:
    """The model's numbers on the split (and its report's, for the test split)."""
    scores = {k: v for k, v in (results.get(split) or {}).items() if isinstance(v, (int, float))}
    if split == "test":
        scores.update({k: v for k, v in (results.get("report") or {}).items() if isinstance(v, (int, float))})
    return scores


def _verdict_metric(metric_names: list[str], baselines: dict[str, dict[str, float]], model: dict) -> str:
    """The first recipe metric that the model and a baseline both have, else the family's headline (seq2seq,
    recommenders), else the first shared classification or regression metric."""
    scored = {m for scores in baselines.values() for m in scores if m in model}
    for name in metric_names:
        if name in scored:
            return name
    for prefix in PACKED_VERDICT:
        for name in sorted(scored):
            if name.startswith(prefix):
                return name
    for name in ("accuracy", "mae", "mse", *SCORED, *REGRESSION_SCORED):
        if name in scored:
            return name
    return min(scored, default="")


def packed_baselines(flat: dict[str, float]) -> dict[str, dict[str, float]]:
    """The seq2seq, recommender and autoencoder references ("copy_input_bleu", "pca_mse") as {name: {metric}}."""
    prefixes = ("copy_input", "most_frequent", "global_mean", "user_item_bias", "most_popular", "pca")
    block: dict[str, dict[str, float]] = {}
    for key, value in flat.items():
        prefix = next((p for p in prefixes if key.startswith(p + "_")), None)
        if prefix is not None and isinstance(value, (int, float)):
            block.setdefault(prefix, {})[key[len(prefix) + 1 :]] = float(value)
    return block


class BaselineJob:
    """The scikit-learn baselines of a table, image or text run, fitted in a background thread while the model
    trains (each within BACKGROUND_BUDGET seconds); `block` waits for them and judges. Streamed data, forecasting
    windows and the families' own references are scored at the end instead, as `baseline_block` does."""

    def __init__(self, recipe: Any, dataset: Any, metric_names: list[str], start: bool = True) -> None:
        from kproto.data.streaming import is_streamed

        self.recipe, self.dataset, self.metric_names = recipe, dataset, list(metric_names)
        self.outcome: Outcome | None = None
        self.rows, self.note, self.seconds = 0, "", 0.0
        self.thread: threading.Thread | None = None
        info = dataset.info
        names = chosen(getattr(recipe.train, "baselines", "auto"), applicable(info.task, info.kind))
        if not names or info.kind == catalog.WINDOW or is_streamed(dataset.x_train) or dataset.y_train is None:
            return
        self.split = catalog.TEST if len(dataset.x_test) else catalog.VALIDATION
        self.names = names
        self.thread = threading.Thread(target=self._fit, name="kproto-baselines", daemon=True)
        if start:
            self.start()

    def start(self) -> None:
        """Begin fitting in the background (once; `block` starts a job nobody started). The training loop starts its
        jobs as the first epoch begins."""
        if self.thread is not None and self.thread.ident is None:
            self.thread.start()

    def _fit(self) -> None:
        began = time.perf_counter()
        try:
            info = self.dataset.info
            prepared = _rows(self.dataset, *self.dataset.split(self.split), self.split)
            if prepared is None:
                return
            sample, self.note = prepared
            keep = kept_metrics(info.task, self.metric_names)
            classes = info.num_classes or 0
            self.outcome = fit_baselines(
                self.names, info.task, sample, classes, BACKGROUND_BUDGET, self.recipe.seed, keep
            )
            self.rows = sample.x_eval.shape[0]
        except Exception as exc:  # noqa: BLE001 - a baseline never breaks training
            self.outcome = Outcome(failed=dict.fromkeys(self.names, f"{type(exc).__name__}: {exc}"[:300]))
        finally:
            self.seconds = time.perf_counter() - began

    def block(
        self,
        results: dict[str, Any],
        train_seconds: float,
        say: Callable[[str], None] | None = None,
    ) -> dict[str, Any]:
        """metrics.json's `baselines`, `baselines_info` and `verdict`; `baselines_info.waited_seconds` is how long
        the end of training waited for the background fits (what they added to the command)."""
        if self.thread is None or _split_of(results) != self.split:
            return baseline_block(self.recipe, self.dataset, results, self.metric_names, train_seconds, say)
        began = time.perf_counter()
        self.start()
        self.thread.join()
        if self.outcome is None:
            return {}
        model = _model_scores(results, self.split)
        block = judged_block(
            self.outcome, self.split, self.rows, self.dataset, self.metric_names, model, say, self.note
        )
        block["baselines_info"]["total_seconds"] = round(self.seconds, 3)
        block["baselines_info"]["waited_seconds"] = round(time.perf_counter() - began, 3)
        return block


def baseline_block(
    recipe: Any,
    dataset: Any,
    results: dict[str, Any],
    metric_names: list[str],
    train_seconds: float,
    say: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """metrics.json's `baselines`, `baselines_info` and `verdict` for a finished run (empty when none apply);
    `baselines_info.total_seconds` is the time all of it took, imports included (what baselines add to training)."""
    began = time.perf_counter()
    block = _baseline_block(recipe, dataset, results, metric_names, train_seconds, say)
    if block:
        block["baselines_info"]["total_seconds"] = round(time.perf_counter() - began, 3)
    return block


def _baseline_block(
    recipe: Any,
    dataset: Any,
    results: dict[str, Any],
    metric_names: list[str],
    train_seconds: float,
    say: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    setting = getattr(recipe.train, "baselines", "auto")
    info = dataset.info
    if setting == "none" or info.task == catalog.GENERATION or info.kind == catalog.WINDOW:
        return {}  # forecasting windows: kproto.training.forecasting scores them (results' baselines and verdict)
    split = _split_of(results)
    shown = [m for m in results.get(split, {}) if m != "loss"]  # baselines are scored on the model's shown metrics
    model = _model_scores(results, split)
    if dataset.preprocessor.kind in (catalog.PAIRS, catalog.INTERACTIONS) or info.task == catalog.RECONSTRUCTION:
        outcome = reference_baselines(dataset, setting)
        if info.task == catalog.RECONSTRUCTION:
            model = {**model, "mse": float(results.get("report", {}).get("reconstruction_mse", float("nan")))}
        return judged_block(outcome, split, info.rows.get("test", 0), dataset, metric_names, model, say)
    names = chosen(setting, applicable(info.task, info.kind))
    if not names:
        return {}
    keep = kept_metrics(info.task, shown)
    prepared = _rows(dataset, *dataset.split(split), split)
    if prepared is None:
        return {}
    sample, note = prepared
    if note:  # streamed: the model's numbers on the same first rows (its report)
        model = _model_scores({"test": results.get("report", {})}, "test")
    outcome = fit_baselines(
        names, info.task, sample, info.num_classes or 0, budget_seconds(train_seconds), recipe.seed, keep
    )
    return judged_block(outcome, split, sample.x_eval.shape[0], dataset, metric_names, model, say, note)


def kept_metrics(task: str, shown: list[str]) -> tuple[str, ...]:
    """The metrics baselines are scored on: those the model shows (accuracy or mae when none applies)."""
    keep = tuple(m for m in shown if m in (SCORED if task == catalog.CLASSIFICATION else REGRESSION_SCORED))
    return keep or (("accuracy",) if task == catalog.CLASSIFICATION else ("mae",))


def reference_baselines(dataset: Any, setting: Any) -> Outcome:
    """The seq2seq, recommender and autoencoder baselines the data layer scored on the test split."""
    flat = dict(dataset.baselines)
    scores = packed_baselines(flat)
    if dataset.info.task == catalog.RECONSTRUCTION:
        scores = {"pca": {"mse": float(flat["pca_mse"])}} if "pca_mse" in flat else {}
    if setting not in (None, "auto"):
        scores = {k: v for k, v in scores.items() if k in setting}
    return Outcome(scores=scores)


def judged_block(
    outcome: Outcome,
    split: str,
    rows: int,
    dataset: Any,
    metric_names: list[str],
    model: dict[str, float],
    say: Callable[[str], None] | None = None,
    note: str = "",
) -> dict[str, Any]:
    """`baselines`, `baselines_info` and (when a metric is shared) `verdict`; left-out baselines are said."""
    block: dict[str, Any] = {
        "baselines": outcome.scores,
        "baselines_info": outcome.info(split, rows, dataset.info.rows.get("train", 0), note),
    }
    if say is not None:
        for name, why in {**outcome.skipped, **outcome.failed}.items():
            say(f"baseline {baseline_label(name)} left out: {why}")
    metric = _verdict_metric(metric_names, outcome.scores, model)
    judged = verdict(metric, float(model[metric]), outcome.scores, split) if metric else None
    if judged is not None:
        block["verdict"] = with_handicap(judged, block["baselines_info"])
    return block


def with_handicap(judged: dict[str, Any], info: dict[str, Any]) -> dict[str, Any]:
    """The verdict `judged`, its message saying how its time budget held the best baseline back (fitted on a sample
    of the training rows, fewer boosting iterations) where `info` (a `baselines_info` block) records it."""
    name = judged["best_baseline"]
    sampled, stopped = info.get("sampled"), info.get("stopped")  # read back from a run folder: checked here
    sampled = sampled if isinstance(sampled, dict) else {}
    stopped = stopped if isinstance(stopped, dict) else {}
    total = info.get("train_rows")
    parts = []
    if isinstance(sampled.get(name), int) and isinstance(total, int):
        parts.append(f"fitted on {sampled[name]:,} of {total:,} training rows")
    if isinstance(stopped.get(name), str):  # "120 of 200 boosting iterations within its 9.5 s budget"
        parts.append(f"stopped at {clean(stopped[name], 120)}")
    if parts:
        ending = "" if isinstance(stopped.get(name), str) else f" ({sample_reason(name, info)})"
        judged["message"] += f"; {baseline_label(name)} was {' and '.join(parts)}{ending}"
    return judged


def sample_reason(name: str, info: dict[str, Any]) -> str:
    """Why baseline `name` was fitted on a sample (`info`: a `baselines_info` block; runs saved before
    `sampled_reason` existed were sampled for time)."""
    reasons = info.get("sampled_reason")
    reason = reasons.get(name) if isinstance(reasons, dict) else None
    return clean(reason, 80) if isinstance(reason, str) else "time budget"


def baselines_on_rows(
    recipe: Any,
    dataset: Any,
    x_eval: Any,
    y_eval: np.ndarray,
    model: dict[str, float],
    metric_names: list[str],
    source: str,
    train_seconds: float,
) -> dict[str, Any]:
    """`kproto evaluate --data F`: the baselines fitted on the run's training split and scored on F's rows."""
    setting = getattr(recipe.train, "baselines", "auto")
    info = dataset.info
    names = chosen(setting, applicable(info.task, info.kind))
    if not names or info.kind == catalog.WINDOW or y_eval is None:
        return {}
    prepared = _rows(dataset, x_eval, y_eval, source)
    if prepared is None:
        return {}
    sample, note = prepared
    keep = kept_metrics(info.task, list(model))
    outcome = fit_baselines(
        names, info.task, sample, info.num_classes or 0, budget_seconds(train_seconds), recipe.seed, keep
    )
    return judged_block(outcome, source, sample.x_eval.shape[0], dataset, metric_names, model, None, note)


def _rows(dataset: Any, x_eval: Any, y_eval: Any, split: str) -> tuple[Rows, str] | None:
    """Training and scoring arrays in scikit-learn's shape; a note when the data is streamed (first rows only)."""
    from kproto.data.streaming import is_streamed

    x_train, y_train = dataset.x_train, dataset.y_train
    if isinstance(x_train, dict):  # a KerasHub tokenizer's inputs: the token ids
        x_train, x_eval = x_train.get("token_ids"), x_eval.get("token_ids")
    if y_train is None or y_eval is None or len(x_eval) == 0:
        return None
    note = ""
    if is_streamed(x_train) or is_streamed(x_eval):
        x_train, y_train = x_train[:BASELINE_ROWS], np.asarray(y_train)[:BASELINE_ROWS]
        x_eval, y_eval = x_eval[:STREAMED_ROWS], np.asarray(y_eval)[:STREAMED_ROWS]
        note = (
            f"streamed data: fitted on the first {len(x_train)} training rows, scored on the first "
            f"{len(x_eval)} {split} rows"
        )
    if dataset.info.kind == catalog.TEXT:
        vocabulary = int(max(np.max(x_train, initial=0), np.max(x_eval, initial=0))) + 1
        train_features, eval_features = _token_counts(x_train, vocabulary), _token_counts(x_eval, vocabulary)
    elif dataset.info.kind == catalog.MIXED:
        train_features, eval_features = _several(dataset.info.inputs, x_train), _several(dataset.info.inputs, x_eval)
    else:
        train_features, eval_features = _flat(x_train), _flat(x_eval)
    return Rows(train_features, np.asarray(y_train), eval_features, np.asarray(y_eval)), note
