"""Several targets end to end: train on tiny tables, then predict, evaluate, serve, explain and export the run."""

from __future__ import annotations

import io
import json
from pathlib import Path

import httpx
import keras
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from test_serve import running

from kproto.cli import cli

TF = ["--backend", "tensorflow"]
pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def float32_policy():
    yield
    keras.mixed_precision.set_dtype_policy("float32")


def tiny_table(rows: int = 160, seed: int = 0) -> pd.DataFrame:
    """default and student (two classes each) and score (a number), all learnable from balance and income."""
    rng = np.random.default_rng(seed)
    balance, income = rng.normal(0, 1, rows), rng.normal(0, 1, rows)
    return pd.DataFrame(
        {
            "default": np.where(balance + 0.3 * rng.normal(size=rows) > 0.5, "Yes", "No"),
            "student": np.where(income + 0.3 * rng.normal(size=rows) < 0, "Yes", "No"),
            "score": 3 * balance - income + 0.1 * rng.normal(size=rows),
            "balance": balance,
            "income": income,
        }
    )


def train(folder: Path, train_section: str, targets: str = "[default, student]") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    tiny_table().to_csv(folder / "t.csv", index=False)
    recipe = folder / "two.yaml"
    recipe.write_text(
        f"data: {{path: t.csv, target: {targets}, features: [balance, income]}}\n"
        "model: {type: feedforward, units: [8]}\n"
        f"train: {{epochs: 2, batch_size: 32, baselines: none, {train_section}}}\n"
    )
    result = CliRunner().invoke(cli, ["train", str(recipe), "--out", str(folder / "runs"), *TF])
    assert result.exit_code == 0, result.output
    return sorted((folder / "runs" / "two").iterdir())[-1]


@pytest.fixture(scope="module")
def two_classes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train(
        tmp_path_factory.mktemp("two"),
        "loss: {default: auto, student: auto}, loss_weights: {default: 1.0, student: 0.5}, "
        "metrics: {default: [auc], student: [accuracy]}",
    )


def test_metrics_json_has_a_block_per_target(two_classes: Path) -> None:
    metrics = json.loads((two_classes / "metrics.json").read_text())
    assert set(metrics["test"]) == {"loss", "default", "student"}
    assert set(metrics["test"]["default"]) == {"loss", "auc"} and set(metrics["test"]["student"]) == {
        "loss",
        "accuracy",
    }
    assert metrics["monitor"] == "val_loss"
    assert metrics["targets"]["student"]["loss_weight"] == 0.5
    assert metrics["targets"]["default"]["positive_class"] == "Yes"
    history = pd.read_csv(two_classes / "history.csv")
    assert {"val_default_loss", "val_student_accuracy", "val_loss"} <= set(history.columns)
    conformal = json.loads((two_classes / "conformal.json").read_text())
    assert set(conformal["targets"]) == {"default", "student"}


def test_predict_writes_columns_per_target(two_classes: Path, tmp_path: Path, runner: CliRunner) -> None:
    tiny_table(6, 1).drop(columns=["default", "student"]).to_csv(tmp_path / "new.csv", index=False)
    out = tmp_path / "p.csv"
    result = runner.invoke(
        cli, ["predict", str(two_classes), "--data", str(tmp_path / "new.csv"), "--out", str(out), "--coverage", "0.9"]
    )
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(out)
    for column in ("prediction_default", "p_default_No", "p_default_Yes", "prediction_student", "p_student_Yes"):
        assert column in frame.columns
    assert "prediction_set_student" in frame.columns
    assert set(frame["prediction_default"]) <= {"No", "Yes"}
    assert np.allclose(frame["p_student_No"] + frame["p_student_Yes"], 1.0, atol=1e-5)


def test_evaluate_shows_a_table_per_target(two_classes: Path, runner: CliRunner) -> None:
    result = runner.invoke(cli, ["evaluate", str(two_classes)])
    assert result.exit_code == 0, result.output
    assert "Target default" in result.output and "Target student" in result.output
    shown = runner.invoke(cli, ["evaluate", str(two_classes), "--json"])
    scores = json.loads(shown.output)
    stored = json.loads((two_classes / "metrics.json").read_text())["test"]
    assert scores["default"]["auc"] == pytest.approx(stored["default"]["auc"], abs=1e-6)
    assert scores["student"]["accuracy"] == pytest.approx(stored["student"]["accuracy"], abs=1e-6)
    assert scores["loss"] == pytest.approx(stored["loss"], rel=1e-4)


def test_serve_answers_per_target(two_classes: Path) -> None:
    from kproto.serve.app import create_app
    from kproto.serve.predictor import load_predictor

    app = create_app(load_predictor(two_classes), max_batch=16, max_delay_ms=5)
    rows = [{"balance": 2.0, "income": -1.0}, {"balance": -1.0, "income": 1.5}]
    with running(app) as url:
        answer = httpx.post(f"{url}/predict", json={"rows": rows}, timeout=30).json()
        meta = httpx.get(f"{url}/metadata", timeout=30).json()
    first = answer["predictions"][0]
    assert set(first) == {"default", "student", "warnings"}
    assert first["default"]["prediction"] in ("No", "Yes")
    assert set(first["student"]["probabilities"]) == {"No", "Yes"}
    assert set(meta["outputs"]["targets"]) == {"default", "student"}


def test_explain_and_export_each_target(two_classes: Path, runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(cli, ["explain", str(two_classes), "--json", "--out", str(tmp_path / "why")])
    assert result.exit_code == 0, result.output
    ranking = json.loads(result.output)["global"]
    assert {entry["target"] for entry in ranking} == {"default", "student"}
    assert (tmp_path / "why" / "student" / "importance.csv").exists()
    exported = runner.invoke(cli, ["export", str(two_classes), "--format", "savedmodel"])
    assert exported.exit_code == 0, exported.output
    assert "largest absolute difference" in exported.output


def test_runs_lists_the_flattened_blocks(two_classes: Path, runner: CliRunner) -> None:
    result = runner.invoke(cli, ["runs", str(two_classes.parent.parent), "--sort", "val_default_auc", "--csv"])
    assert result.exit_code == 0, result.output
    assert "validation.default_auc" in result.output


def test_classification_and_regression_with_weights(tmp_path: Path, runner: CliRunner) -> None:
    run = train(
        tmp_path,
        "loss_weights: {score: 0.1}, class_weight: {default: balanced}, threshold: {default: auto}, "
        "early_stopping: {monitor: val_default_loss}",
        targets="[default, score]",
    )
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["monitor"] == "val_default_loss"
    assert set(metrics["test"]["score"]) == {"loss", "mae"}
    assert metrics["targets"]["score"]["task"] == "regression"
    assert metrics["targets"]["default"]["threshold"]["metric"] == "f1"
    tiny_table(5, 2).to_csv(tmp_path / "new.csv", index=False)
    result = runner.invoke(cli, ["predict", str(run), "--data", str(tmp_path / "new.csv"), "--coverage", "0.8"])
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(io.StringIO(result.stdout))
    assert {"prediction_default", "prediction_score", "lower_score", "upper_score"} <= set(frame.columns)
    assert (frame["lower_score"] <= frame["prediction_score"]).all()
    evaluated = runner.invoke(cli, ["evaluate", str(run), "--data", str(tmp_path / "new.csv"), "--json"])
    assert evaluated.exit_code == 0, evaluated.output
    assert "r2" in json.loads(evaluated.output)["score"]["report"]
    from kproto.serve.predictor import load_predictor

    answers = load_predictor(run).records(tiny_table(2, 3)[["balance", "income"]], coverage=0.8)
    assert isinstance(answers[0]["score"]["prediction"], float) and "lower" in answers[0]["score"]
    assert answers[0]["default"]["prediction"] in ("No", "Yes")
    explained = runner.invoke(cli, ["explain", str(run), "--json"])
    assert explained.exit_code == 0, explained.output
    assert {entry["target"] for entry in json.loads(explained.output)["global"]} == {"default", "score"}
    exported = runner.invoke(cli, ["export", str(run), "--format", "onnx"])
    assert exported.exit_code == 0, exported.output


def test_loss_weights_change_the_total(tmp_path: Path) -> None:
    light = train(tmp_path / "light", "loss_weights: {student: 0.0}")
    metrics = json.loads((light / "metrics.json").read_text())
    assert metrics["test"]["loss"] == pytest.approx(metrics["test"]["default"]["loss"], rel=1e-3)


def test_several_inputs_and_several_targets(tmp_path: Path, runner: CliRunner) -> None:
    rng = np.random.default_rng(1)
    words = np.array(["good", "bad", "fine", "awful", "great", "poor"])
    texts = [" ".join(rng.choice(words, 6)) for _ in range(120)]
    positive = np.array([sum(w in ("good", "fine", "great") for w in t.split()) for t in texts])
    balance = rng.normal(0, 1, 120)
    frame = pd.DataFrame(
        {
            "review": texts,
            "balance": balance,
            "liked": np.where(positive >= 3, "yes", "no"),
            "score": positive + balance,
        }
    )
    frame.to_csv(tmp_path / "mixed.csv", index=False)
    (tmp_path / "mixed.yaml").write_text(
        "data: {path: mixed.csv, target: [liked, score], features: [review, balance], text: review}\n"
        "model: {type: gru, units: [8]}\ntrain: {epochs: 1, baselines: none}\n"
    )
    result = runner.invoke(cli, ["train", str(tmp_path / "mixed.yaml"), "--out", str(tmp_path / "runs"), *TF])
    assert result.exit_code == 0, result.output
    run = sorted((tmp_path / "runs" / "mixed").iterdir())[-1]
    info = json.loads((run / "preprocess.json").read_text())["info"]
    assert info["kind"] == "mixed" and [t["name"] for t in info["targets"]] == ["liked", "score"]
    frame.head(3).to_csv(tmp_path / "new.csv", index=False)
    predicted = runner.invoke(cli, ["predict", str(run), "--data", str(tmp_path / "new.csv")])
    assert predicted.exit_code == 0, predicted.output
    columns = pd.read_csv(io.StringIO(predicted.stdout)).columns
    assert {"prediction_liked", "p_liked_yes", "prediction_score"} <= set(columns)
