"""`kproto evaluate` end to end: it reproduces a run's test metrics, reads .keras files and scores new raw rows."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from helpers import tiny_frame

from kproto.cli import cli


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, tiny_run: Callable[[Path], Path]) -> Path:
    """A run of the tiny table, built without training (its metrics.json holds the untrained model's scores)."""
    return tiny_run(tmp_path_factory.mktemp("run"))


def test_evaluate_reproduces_the_test_metrics(run: Path, runner: CliRunner) -> None:
    result = runner.invoke(cli, ["evaluate", str(run), "--json"])
    assert result.exit_code == 0, result.output
    got = json.loads(result.output)
    expected = json.loads((run / "metrics.json").read_text())["test"]
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, abs=1e-6), key
    report = got["report"]
    test_rows = json.loads((run / "preprocess.json").read_text())["info"]["rows"]["test"]
    assert np.asarray(report["confusion"]).sum() == test_rows
    assert set(report["per_class"]) == {"high", "low", "mid"}
    assert not (run / "confusion.png").exists()  # evaluate only reports; `kproto plot` draws (test_figures.py)


def test_evaluate_on_a_keras_file_and_as_tables(run: Path, runner: CliRunner) -> None:
    result = runner.invoke(cli, ["evaluate", str(run / "model.keras")])
    assert result.exit_code == 0, result.output
    for words in ("accuracy", "precision", "recall", "Confusion"):
        assert words in result.output


def test_evaluate_on_new_raw_rows(run: Path, runner: CliRunner, tmp_path: Path) -> None:
    fresh = tiny_frame(40, 99)
    fresh.loc[fresh.index[:3], "color"] = "purple"  # a category never seen in training
    path = tmp_path / "fresh.csv"
    fresh.to_csv(path, index=False)
    result = runner.invoke(cli, ["evaluate", str(run), "--data", str(path), "--json"])
    assert result.exit_code == 0, result.output
    got = json.loads(result.output)
    assert 0.0 <= got["accuracy"] <= 1.0 and np.isfinite(got["loss"])
    assert np.asarray(got["report"]["confusion"]).sum() == len(fresh)
    assert "3 unseen categories (color: 3)" in got["input_warnings"]  # never silent, as in predict
    shown = runner.invoke(cli, ["evaluate", str(run), "--data", str(path)], terminal_width=200)
    assert shown.exit_code == 0 and "of 40 rows needed a guess" in shown.output


@pytest.mark.parametrize(
    ("drop", "says", "hint"),
    [
        ("x2", "the data has no column(s) 'x2', which the model reads", "(target: label)"),
        ("label", "the data has no column 'label', the target its predictions are scored against", "kproto predict"),
    ],
)
def test_evaluate_names_what_a_new_file_lacks(
    run: Path, runner: CliRunner, tmp_path: Path, drop: str, says: str, hint: str
) -> None:
    path = tmp_path / "lacking.csv"
    tiny_frame(20, 3).drop(columns=[drop]).to_csv(path, index=False)
    result = runner.invoke(cli, ["evaluate", str(run), "--data", str(path)], terminal_width=200)
    assert result.exit_code == 2, result.output
    assert "field '--data'" in result.output and says in result.output and hint in result.output
    assert "Traceback" not in result.output


# ----------------------------------------------------------------------------- one threshold everywhere
def binary_folder(folder: Path, train: str) -> Path:
    """An untrained run of a binary table (20% positive, labels 'no'/'yes') with the given train section."""
    from helpers import untrained_run

    rng = np.random.default_rng(5)
    n = 240
    a, b = rng.normal(size=n), rng.normal(size=n)
    label = np.where(a + 0.5 * b + rng.normal(scale=0.5, size=n) > 1.0, "yes", "no")
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"a": a, "b": b, "label": label}).to_csv(folder / "binary.csv", index=False)
    pd.DataFrame({"a": a[:90] * 1.1, "b": b[:90], "label": label[:90]}).to_csv(folder / "fresh.csv", index=False)
    recipe = folder / "binary.yaml"
    recipe.write_text(
        "seed: 4\ndata: {path: binary.csv, target: label}\nmodel: {type: feedforward, units: [4]}\n"
        f"train: {{batch_size: 16, metrics: [accuracy, f1, auc], {train}}}\n"
    )
    return untrained_run(recipe, folder / "runs")


@pytest.mark.parametrize(
    "train",
    [
        "threshold: 0.5, calibrate: none",
        "threshold: auto, calibrate: temperature",
        "threshold: 0.45, calibrate: auto, positive_class: 'no'",
    ],
)
def test_evaluate_accuracy_is_the_accuracy_of_predict(runner: CliRunner, tmp_path: Path, train: str) -> None:
    run = binary_folder(tmp_path, train)
    fresh = tmp_path / "fresh.csv"
    evaluated = runner.invoke(cli, ["evaluate", str(run), "--data", str(fresh), "--json"])
    assert evaluated.exit_code == 0, evaluated.output
    scores = json.loads(evaluated.output)
    predicted = runner.invoke(cli, ["predict", str(run), "--data", str(fresh)])
    assert predicted.exit_code == 0, predicted.output
    import io

    answers = pd.read_csv(io.StringIO(predicted.output))
    truth = pd.read_csv(fresh)["label"]
    assert scores["accuracy"] == pytest.approx(float(np.mean(answers["prediction"] == truth)), abs=1e-12)
    positive = scores["report"]["classes"][1]
    decided_positive = answers["prediction"] == positive
    is_positive = truth == positive
    tp = float(np.sum(decided_positive & is_positive))
    f1 = 2 * tp / (decided_positive.sum() + is_positive.sum())
    assert scores["f1"] == pytest.approx(f1, abs=1e-12)  # the positive class's F1 at the run's threshold
    metrics = json.loads((run / "metrics.json").read_text())
    assert scores["threshold"]["value"] == metrics["threshold"]["value"] == scores["report"]["threshold"]
    if "positive_class" in train:
        assert positive == "no"


def test_evaluate_on_the_test_split_reproduces_training_numbers_and_the_verdict(
    runner: CliRunner, tmp_path: Path
) -> None:
    run = binary_folder(tmp_path, "threshold: auto, calibrate: temperature")
    metrics = json.loads((run / "metrics.json").read_text())
    assert {"majority", "linear", "gradient_boosting"} <= set(metrics["baselines"])
    assert metrics["baselines_info"]["split"] == "test"
    assert metrics["threshold"]["chosen_on"] == "validation"
    assert metrics["calibration"]["chosen_on"] == "validation"
    assert metrics["positive_class"] == "yes"
    result = runner.invoke(cli, ["evaluate", str(run), "--json"])
    assert result.exit_code == 0, result.output
    got = json.loads(result.output)
    for key in ("accuracy", "f1", "auc"):
        assert got[key] == pytest.approx(metrics["test"][key], abs=1e-9), key
    assert got["baselines"] == metrics["baselines"]
    assert got["verdict"] == metrics["verdict"]
    assert got["verdict"]["model_wins"] == (got["verdict"]["model"] >= got["verdict"]["baseline"])
    shown = runner.invoke(cli, ["evaluate", str(run)], terminal_width=200)
    assert "chosen on validation" in shown.output and "Baselines on the" in shown.output
    assert "Verdict" in shown.output and f"at threshold {metrics['threshold']['value']:.4g}" in shown.output
