"""Decisions fitted after training: data.balance, train.calibrate / threshold / threshold_metric, conformal files."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import recipe_for, train

from kproto.core.errors import DataError
from kproto.data.selection import balance_rows
from kproto.recipe.schema import Recipe
from kproto.runs import layout


@pytest.mark.parametrize("mode, expected", [("oversample", 8), ("undersample", 2), ("none", None)])
def test_balance_rows(mode, expected):
    labels = np.array(["a"] * 8 + ["b"] * 2 + ["c"] * 5)
    rows = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12])  # rows 13, 14 (class c) are not training rows
    balanced = balance_rows(rows, labels, mode, seed=1)
    if expected is None:
        assert balanced is rows
        return
    counts = {k: int(np.sum(labels[balanced] == k)) for k in "abc"}
    assert counts == {"a": expected, "b": expected, "c": min(expected, 3) if mode == "undersample" else expected}
    assert set(balanced) <= set(rows)
    assert np.array_equal(balanced, balance_rows(rows, labels, mode, seed=1))  # seeded


def test_balance_needs_classes():
    with pytest.raises(DataError) as error:
        balance_rows(np.arange(4), None, "oversample", 0)
    assert error.value.field == "data.balance"


def test_recipe_fields():
    base = {"data": {"path": "x.csv", "target": "y"}, "model": {"type": "feedforward"}}
    recipe = Recipe.model_validate(base)
    assert (recipe.train.calibrate, recipe.train.threshold, recipe.train.threshold_metric) == ("auto", 0.5, "f1")
    assert recipe.data.balance == "none"
    tuned = Recipe.model_validate(
        {
            **base,
            "data": {**base["data"], "balance": "undersample"},
            "train": {"threshold": "auto", "calibrate": "none"},
        }
    )
    assert tuned.train.threshold == "auto" and tuned.data.balance == "undersample"
    for bad in ({"threshold": 1.5}, {"threshold": "best"}, {"calibrate": "platt"}, {"threshold_metric": "auc"}):
        with pytest.raises(ValueError):
            Recipe.model_validate({**base, "train": bad})


def binary_data(path, rows: int = 300, seed: int = 0):
    import pandas as pd

    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=rows), rng.normal(size=rows)
    color = rng.choice(["red", "green", "blue"], size=rows).astype(object)
    color[::17] = None
    label = np.where(x1 + 0.3 * x2 + rng.normal(0, 0.5, rows) > 0.8, "yes", "no")  # about a quarter "yes"
    pd.DataFrame({"x1": x1, "x2": x2, "color": color, "label": label}).to_csv(path, index=False)
    return path


@pytest.mark.slow
def test_trained_run_records_calibration_threshold_and_conformal(runner, tmp_path):
    data = binary_data(tmp_path / "binary.csv")
    recipe = recipe_for(data, epochs=3, threshold="auto")
    recipe["data"]["balance"] = "oversample"
    run = train(runner, tmp_path, recipe)
    metrics = json.loads((run / layout.METRICS).read_text())
    calibration = metrics["calibration"]
    assert set(calibration) == {"method", "temperature", "ece_before", "ece_after", "chosen_on"}
    assert calibration["chosen_on"] == "validation"  # ece_before and ece_after are its effect on the test split
    assert calibration["method"] == "temperature" and calibration["temperature"] > 0
    threshold = metrics["threshold"]
    assert 0 <= threshold["value"] <= 1 and threshold["metric"] == "f1"
    assert threshold["validation_at_threshold"] >= threshold["validation_at_0.5"]
    assert threshold["chosen_on"] == "validation"
    assert metrics["validation_used_for"] == ["the epoch kept", "the calibration", "the threshold"]
    conformal = json.loads((run / layout.CONFORMAL).read_text())
    assert conformal["task"] == "classification" and conformal["rows"] > 0
    assert conformal["scores"] == sorted(conformal["scores"])

    from kproto.cli import cli

    predicted = runner.invoke(cli, ["predict", str(run), "--data", str(data), "--coverage", "0.9"])
    assert predicted.exit_code == 0, predicted.output
    header, first = predicted.stdout.splitlines()[:2]
    assert header.split(",")[-1] == "prediction_set" and first
    evaluated = runner.invoke(cli, ["evaluate", str(run), "--coverage", "0.9", "--json"])
    assert evaluated.exit_code == 0, evaluated.output
    report = json.loads(evaluated.output[evaluated.output.index("{") :])
    assert 0 <= report["conformal"]["coverage"] <= 1 and report["conformal"]["mean_set_size"] >= 0
    assert set(report["threshold"]) == {"value", "metric", "at_0.5", "at_threshold", "chosen_on"}
    assert report["calibration"]["temperature"] == pytest.approx(calibration["temperature"])
    table = runner.invoke(cli, ["evaluate", str(run)])
    assert "Decisions" in table.output and "at threshold" in table.output
    plotted = runner.invoke(cli, ["plot", str(run)])
    assert plotted.exit_code == 0 and (run / layout.RELIABILITY).exists()


@pytest.mark.slow
def test_regression_intervals(runner, tmp_path):
    import pandas as pd

    rng = np.random.default_rng(1)
    a = rng.normal(size=240)
    path = tmp_path / "reg.csv"
    pd.DataFrame({"a": a, "label": 3 * a + rng.normal(0, 0.3, 240) + 50}).to_csv(path, index=False)
    run = train(runner, tmp_path, recipe_for(path, epochs=3))
    assert "calibration" not in json.loads((run / layout.METRICS).read_text())
    from kproto.cli import cli

    predicted = runner.invoke(cli, ["predict", str(run), "--data", str(path), "--coverage", "0.8"])
    header = predicted.stdout.splitlines()[0].split(",")
    assert header[-2:] == ["lower", "upper"]
    evaluated = runner.invoke(cli, ["evaluate", str(run), "--coverage", "0.8", "--json"])
    report = json.loads(evaluated.output[evaluated.output.index("{") :])
    assert report["conformal"]["mean_width"] > 0


def test_coverage_without_conformal_scores_is_a_clean_error(runner, tmp_path, tiny_run):
    from helpers import assert_clean_error

    from kproto.cli import cli
    from kproto.runs import layout

    run = tiny_run(tmp_path)
    (run / layout.CONFORMAL).unlink()  # as a run trained before conformal scores existed
    result = runner.invoke(cli, ["predict", str(run), "--data", str(tmp_path / "tiny.csv"), "--coverage", "0.9"])
    assert_clean_error(result, says="no conformal scores", field="--coverage")
    result = runner.invoke(cli, ["evaluate", str(run), "--coverage", "0.9"])
    assert_clean_error(result, says="no conformal scores", field="--coverage")


@pytest.mark.parametrize(
    ("early_stopping", "monitor", "decisions", "uses"),
    [
        ({"patience": 3}, "val_loss", {}, ["the epoch kept"]),
        ({"patience": 3, "restore_best": False}, "val_loss", {}, ["when training stopped"]),
        ({"patience": 3}, "loss", {}, []),  # no validation split: the training loss chose
        (None, "val_loss", {"calibration": {"chosen_on": "validation"}}, ["the calibration"]),
        (
            {"patience": 3},
            "val_loss",
            {"calibration": {"chosen_on": "validation"}, "threshold": {"chosen_on": "validation"}},
            ["the epoch kept", "the calibration", "the threshold"],
        ),
        (None, "val_loss", {"threshold": {"chosen_on": "recipe"}}, []),
    ],
)
def test_what_the_validation_rows_chose_is_recorded(
    early_stopping: dict | None, monitor: str, decisions: dict, uses: list[str]
) -> None:
    from kproto.recipe.schema import EarlyStopping
    from kproto.training.decisions import validation_uses

    stopping = EarlyStopping(**early_stopping) if early_stopping is not None else None
    assert validation_uses(stopping, monitor, decisions) == ({"validation_used_for": uses} if uses else {})
