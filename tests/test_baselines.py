"""kproto.training.baselines: baselines for every task kind, scored on the model's rows, and the verdict."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest

from kproto.data import load_dataset
from kproto.data.types import DataInfo
from kproto.recipe.loader import recipe_from_dict
from kproto.training import baselines as module
from kproto.training.baselines import (
    Rows,
    applicable,
    baseline_block,
    budget_seconds,
    chosen,
    fit_baselines,
    packed_baselines,
    regression_metrics,
)

VERDICT_KEYS = {"metric", "split", "model", "best_baseline", "baseline", "higher_is_better", "model_wins", "message"}


def recipe(data: dict[str, Any], model: dict[str, Any] | None = None, **train: Any) -> Any:
    return recipe_from_dict(
        {"seed": 3, "data": data, "model": model or {"type": "feedforward"}, "train": {"epochs": 1, **train}}
    )


def check_block(block: dict[str, Any], names: set[str], metric: str) -> None:
    """The metrics.json entries: baselines {name: {metric: value}}, baselines_info, and a consistent verdict."""
    assert names <= set(block["baselines"]), block
    assert all(
        isinstance(v, dict) and all(isinstance(x, float) for x in v.values()) for v in block["baselines"].values()
    )
    assert block["baselines_info"]["split"] == "test" and block["baselines_info"]["rows"] > 0
    judged = block["verdict"]
    assert set(judged) == VERDICT_KEYS and judged["metric"] == metric
    best = judged["baseline"]
    assert best == (max if judged["higher_is_better"] else min)(s[metric] for s in block["baselines"].values())
    wins = judged["model"] >= best if judged["higher_is_better"] else judged["model"] <= best
    assert judged["model_wins"] is wins


def test_classification_baselines_on_the_test_rows(tiny_classification: Path) -> None:
    spec = recipe({"path": str(tiny_classification), "target": "label"}, metrics=["accuracy", "auc"])
    dataset = load_dataset(spec)
    results = {"test": {"loss": 0.5, "accuracy": 0.99, "auc": 0.999}, "report": {"macro_f1": 0.9}}
    block = baseline_block(spec, dataset, results, ["accuracy", "auc"], train_seconds=10.0)
    check_block(block, {"majority", "linear", "gradient_boosting"}, "accuracy")
    assert set(block["baselines"]["linear"]) == {"accuracy", "auc"}  # the metrics the model shows, no more
    assert block["baselines"]["majority"]["auc"] == pytest.approx(0.5)
    assert block["baselines_info"]["rows"] == len(dataset.x_test)
    assert block["verdict"]["model_wins"] is True


def test_regression_baselines_and_a_baseline_that_wins(tiny_regression: Path) -> None:
    spec = recipe({"path": str(tiny_regression), "target": "y"}, metrics=["mae", "r2"])
    dataset = load_dataset(spec)
    block = baseline_block(spec, dataset, {"test": {"loss": 9.0, "mae": 5.0, "r2": 0.1}}, ["mae", "r2"], 10.0)
    check_block(block, {"mean", "linear", "gradient_boosting"}, "mae")
    assert block["baselines"]["linear"]["mae"] < 0.5  # the target is linear in the columns
    assert block["verdict"]["best_baseline"] == "linear" and block["verdict"]["model_wins"] is False
    assert block["verdict"]["message"].startswith("linear reaches")


def test_text_baselines_use_tfidf(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    words = {"pos": ["great", "lovely"], "neg": ["awful", "stale"]}
    rows = [
        {"review": " ".join([*rng.choice(["the", "box", "was"], 4), rng.choice(words[label])]), "label": label}
        for label in ["pos", "neg"] * 40
    ]
    pd.DataFrame(rows).to_csv(tmp_path / "reviews.csv", index=False)
    spec = recipe(
        {"path": str(tmp_path / "reviews.csv"), "target": "label", "text": "review"}, {"type": "lstm", "units": [4]}
    )
    dataset = load_dataset(spec)
    block = baseline_block(spec, dataset, {"test": {"accuracy": 0.5}}, ["accuracy"], 1.0)
    check_block(block, {"majority", "tfidf_linear"}, "accuracy")
    assert block["baselines"]["tfidf_linear"]["accuracy"] > 0.9  # one word decides the label


def test_autoencoder_baseline_is_pca(digits: Path) -> None:
    spec = recipe(
        {"path": str(digits), "target": "label", "shape": [8, 8, 1]}, {"type": "autoencoder", "bottleneck": 4}
    )
    dataset = load_dataset(spec)
    block = baseline_block(spec, dataset, {"test": {"loss": 1.0}, "report": {"reconstruction_mse": 0.5}}, [], 1.0)
    check_block(block, {"pca"}, "mse")


@pytest.mark.parametrize(
    ("kind", "task", "flat", "report", "names", "metric"),
    [
        (
            "pairs",
            "seq2seq",
            {"copy_input_exact_match": 0.0, "copy_input_bleu": 0.1, "most_frequent_exact_match": 0.05},
            {"exact_match": 0.4, "bleu": 0.5},
            {"copy_input", "most_frequent"},
            "exact_match",
        ),
        (
            "interactions",
            "regression",
            {"global_mean_rmse": 1.1, "user_item_bias_rmse": 0.9, "user_item_bias_mae": 0.7},
            {"rmse": 0.95, "mae": 0.72},
            {"global_mean", "user_item_bias"},
            "rmse",
        ),
        (
            "interactions",
            "ranking",
            {"most_popular_ndcg@5": 0.2, "most_popular_recall@5": 0.1},
            {"ndcg@5": 0.3, "recall@5": 0.2},
            {"most_popular"},
            "ndcg@5",
        ),
    ],
)
def test_seq2seq_and_recommender_baselines_move_into_the_block(
    kind: str, task: str, flat: dict, report: dict, names: set[str], metric: str
) -> None:
    info = DataInfo(task=task, kind=kind, input_shape=(4,), rows={"train": 10, "test": 5})
    dataset = SimpleNamespace(info=info, baselines=flat, preprocessor=SimpleNamespace(kind=kind, state={}))
    spec = SimpleNamespace(train=SimpleNamespace(baselines="auto"))
    block = baseline_block(spec, dataset, {"test": {"loss": 1.0}, "report": report}, [], 1.0)
    check_block(block, names, metric)


def test_packed_baselines_split_on_known_names() -> None:
    flat = {"copy_input_token_error_rate": 0.5, "most_popular_hit_rate@10": 0.3, "other": 1.0}
    assert packed_baselines(flat) == {
        "copy_input": {"token_error_rate": 0.5},
        "most_popular": {"hit_rate@10": 0.3},
    }


def classification_rows(n: int = 300, seed: int = 0) -> Rows:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)).astype(np.float32)
    y = (x[:, 0] > 0).astype(int)
    return Rows(x[:200], y[:200], x[200:], y[200:])


def test_a_failing_baseline_is_recorded_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    real = module._estimator

    def broken(name: str, task: str, seed: int) -> Any:
        if name == "linear":
            raise MemoryError("no room")
        return real(name, task, seed)

    monkeypatch.setattr(module, "_estimator", broken)
    outcome = fit_baselines(["majority", "linear"], "classification", classification_rows(), 2, 5.0, 0, ("accuracy",))
    assert "majority" in outcome.scores and "linear" not in outcome.scores
    assert outcome.failed["linear"] == "MemoryError: no room"
    assert outcome.info("test", 100, 200)["failed"] == {"linear": "MemoryError: no room"}


def test_a_baseline_over_its_budget_is_skipped_and_said(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(module, "PILOT_FROM", 100)
    monkeypatch.setattr(module, "PILOT_ROWS", 50)
    monkeypatch.setattr(
        module, "_fit_timed", lambda name, task, seed, x, y, budget=None: (None, 10.0)
    )  # 10 s per pilot fit
    outcome = fit_baselines(["linear"], "classification", classification_rows(), 2, 1.0, 0, ("accuracy",))
    assert outcome.scores == {} and "over its budget of 1.0 s" in outcome.skipped["linear"]


def test_a_large_training_split_is_sampled_within_the_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(module, "PILOT_FROM", 100)
    monkeypatch.setattr(module, "PILOT_ROWS", 20)
    monkeypatch.setattr(module, "MIN_SAMPLE", 10)
    real = module._fit_timed

    def timed(name: str, task: str, seed: int, x: Any, y: Any, budget: Any = None) -> Any:
        model, _ = real(name, task, seed, x, y)
        return model, 0.01 * x.shape[0] / 20  # 0.01 s per 20 rows: 200 rows would take 0.1 s

    monkeypatch.setattr(module, "_fit_timed", timed)
    outcome = fit_baselines(["linear"], "classification", classification_rows(), 2, 0.05, 0, ("accuracy",))
    assert 10 <= outcome.sampled["linear"] < 200 and "accuracy" in outcome.scores["linear"]
    assert outcome.sampled_reason == {"linear": "time budget"}


def test_the_row_cap_samples_every_baseline_but_the_trivial_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    """Baselines fit on at most BASELINE_ROWS rows, said as such; the majority class and the mean use every row."""
    from rich.console import Console

    from kproto.report.tables import baselines_table

    monkeypatch.setattr(module, "BASELINE_ROWS", 150)
    outcome = fit_baselines(["majority", "linear"], "classification", classification_rows(), 2, 5.0, 0, ("accuracy",))
    assert outcome.sampled == {"linear": 150}
    assert outcome.sampled_reason == {"linear": "at most 150 rows per baseline"}
    info = outcome.info("test", 100, 200)
    assert module.sample_reason("linear", info) == "at most 150 rows per baseline"
    assert module.sample_reason("linear", {"sampled": {"linear": 150}}) == "time budget"  # a run saved before
    console = Console(record=True, width=200)
    console.print(baselines_table(outcome.scores, info, {"accuracy": 0.9}))
    shown = " ".join(console.export_text().split())  # the notes wrap at the table's width
    assert "linear: fitted on a sample of 150 training rows (at most 150 rows per baseline)" in shown


@pytest.mark.parametrize(
    ("setting", "expected"),
    [("auto", ["majority", "linear", "gradient_boosting"]), ("none", []), (["linear", "pca"], ["linear"])],
)
def test_train_baselines_setting(setting: Any, expected: list[str]) -> None:
    assert chosen(setting, applicable("classification", "table")) == expected


def test_baselines_none_writes_nothing(tiny_classification: Path) -> None:
    spec = recipe({"path": str(tiny_classification), "target": "label"}, baselines="none")
    assert baseline_block(spec, load_dataset(spec), {"test": {"accuracy": 0.5}}, ["accuracy"], 1.0) == {}


def test_budget_bounds() -> None:
    assert budget_seconds(0.0) == module.MIN_BUDGET
    assert budget_seconds(1e6) == module.MAX_BUDGET
    assert budget_seconds(100.0) == pytest.approx(100.0 * module.BUDGET_SHARE)


def test_regression_metrics_match_their_definitions() -> None:
    scores = regression_metrics(np.array([1.0, 2.0, 4.0]), np.array([1.0, 3.0, 3.0]))
    assert scores["mae"] == pytest.approx(2 / 3) and scores["mse"] == pytest.approx(2 / 3)
    assert scores["rmse"] == pytest.approx(np.sqrt(2 / 3))
    assert scores["r2"] == pytest.approx(1 - 2 / (14 / 3))
    assert scores["mape"] == pytest.approx(100 * (0 + 0.5 + 0.25) / 3)


def test_gradient_boosting_stops_growing_at_its_budget() -> None:
    outcome = fit_baselines(["gradient_boosting"], "classification", classification_rows(), 2, 1e-6, 0, ("accuracy",))
    assert outcome.stopped["gradient_boosting"].startswith(f"{module.BOOSTING_STEP} of 100 boosting iterations")
    assert "accuracy" in outcome.scores["gradient_boosting"]
    roomy = fit_baselines(["gradient_boosting"], "classification", classification_rows(), 2, 60.0, 0, ("accuracy",))
    assert roomy.stopped == {}


def test_prefetch_imports_what_the_baselines_need() -> None:
    import sys

    spec = SimpleNamespace(train=SimpleNamespace(baselines=["linear"]))
    thread = module.prefetch_imports(spec, DataInfo(task="classification", kind="table", input_shape=(3,)))
    assert thread is not None
    thread.join(timeout=60)
    assert "sklearn.linear_model" in sys.modules
    none = SimpleNamespace(train=SimpleNamespace(baselines="none"))
    assert module.prefetch_imports(none, DataInfo(task="classification", kind="table", input_shape=(3,))) is None
    assert module.prefetch_imports(spec, DataInfo(task="generation", kind="table", input_shape=(3,))) is None


def test_baseline_job_fits_in_the_background_and_judges_at_the_end(tiny_classification: Path) -> None:
    from kproto.training.baselines import BaselineJob

    spec = recipe({"path": str(tiny_classification), "target": "label"}, metrics=["accuracy"])
    dataset = load_dataset(spec)
    job = BaselineJob(spec, dataset, ["accuracy"])
    assert job.thread is not None  # started at once
    block = job.block({"test": {"loss": 0.5, "accuracy": 0.2}}, train_seconds=1.0)
    check_block(block, {"majority", "linear", "gradient_boosting"}, "accuracy")
    assert block["verdict"]["model_wins"] is False
    assert block["baselines_info"]["waited_seconds"] >= 0 and block["baselines_info"]["total_seconds"] > 0


def test_a_baseline_job_made_unstarted_waits_for_start_or_block(tiny_classification: Path) -> None:
    """The training loop makes its jobs with start=False and starts them as the first epoch begins; `start` runs the
    thread once, and `block` starts a job nobody started before judging."""
    from kproto.training.baselines import BaselineJob

    spec = recipe({"path": str(tiny_classification), "target": "label"}, metrics=["accuracy"])
    dataset = load_dataset(spec)
    waiting = BaselineJob(spec, dataset, ["accuracy"], start=False)
    assert waiting.thread is not None and waiting.thread.ident is None and waiting.outcome is None
    waiting.start()
    waiting.start()  # a second call changes nothing
    waiting.thread.join()
    assert waiting.outcome is not None and "majority" in waiting.outcome.scores
    never_started = BaselineJob(spec, dataset, ["accuracy"], start=False)
    block = never_started.block({"test": {"loss": 0.5, "accuracy": 0.2}}, train_seconds=1.0)
    check_block(block, {"majority", "linear", "gradient_boosting"}, "accuracy")


def test_windows_keep_the_forecasting_baselines(tmp_path: Path) -> None:
    """Forecasting windows get last value, seasonal naive and linear AR from kproto.training.forecasting: the
    block adds nothing over them."""
    from kproto.training.baselines import BaselineJob

    t = np.arange(400)
    pd.DataFrame({"value": 10 + np.sin(2 * np.pi * t / 12) * 3}).to_csv(tmp_path / "s.csv", index=False)
    spec = recipe(
        {"path": str(tmp_path / "s.csv"), "target": "value", "window": {"length": 24}}, {"type": "lstm", "units": [4]}
    )
    dataset = load_dataset(spec)
    assert {"last_value", "linear_ar"} <= set(dataset.baselines)
    job = BaselineJob(spec, dataset, ["mae"])
    assert job.thread is None
    assert job.block({"test": {"mae": 0.1}, "baselines": dataset.baselines}, 1.0) == {}


def test_recommender_rows_get_no_scikit_learn_baselines() -> None:
    from kproto.training.baselines import BaselineJob

    info = DataInfo(task="regression", kind="interactions", input_shape=(4,), rows={"train": 10, "test": 5})
    dataset = SimpleNamespace(
        info=info,
        baselines={"global_mean_rmse": 1.1, "user_item_bias_rmse": 0.9},
        preprocessor=SimpleNamespace(kind="interactions", state={}),
        x_train=np.zeros((10, 4)),
        y_train=np.zeros(10),
        x_test=np.zeros((5, 4)),
    )
    spec = SimpleNamespace(seed=0, train=SimpleNamespace(baselines="auto"))
    assert applicable("regression", "interactions") == ()
    job = BaselineJob(spec, dataset, ["mae"])
    assert job.thread is None
    assert set(job.block({"test": {"mae": 0.7}, "report": {"rmse": 0.95}}, 1.0)["baselines"]) == {
        "global_mean",
        "user_item_bias",
    }


@pytest.mark.parametrize(
    ("sampled", "stopped", "says"),
    [
        ({}, {}, None),
        (
            {"gradient_boosting": 5065},
            {},
            "; gradient boosting was fitted on 5,065 of 37,758 training rows (time budget)",
        ),
        (
            {"gradient_boosting": 5065},
            {"gradient_boosting": "80 of 200 boosting iterations within its 12.0 s budget"},
            "; gradient boosting was fitted on 5,065 of 37,758 training rows and stopped at 80 of 200 boosting "
            "iterations within its 12.0 s budget",
        ),
        ({"linear": 20000}, {}, None),  # only the best baseline's handicap is the verdict's business
    ],
)
def test_the_verdict_says_when_the_best_baseline_was_held_back(
    sampled: dict[str, int], stopped: dict[str, str], says: str | None
) -> None:
    outcome = module.Outcome(
        scores={"mean": {"mae": 3065.1}, "linear": {"mae": 778.7}, "gradient_boosting": {"mae": 343.9}},
        sampled=sampled,
        stopped=stopped,
    )
    dataset = SimpleNamespace(info=SimpleNamespace(rows={"train": 37758}))
    block = module.judged_block(outcome, "test", 8091, dataset, ["mae"], {"mae": 333.4})
    message = block["verdict"]["message"]
    assert message.startswith("this model's mae 333.4 on the test rows beats every baseline (best: gradient boosting")
    assert block["verdict"]["model_wins"] is True
    if says is None:
        assert "time budget" not in message and "fitted on" not in message
    else:
        assert message.endswith(says)
    assert block["baselines_info"]["train_rows"] == 37758
