"""The experiment workflow on real tiny runs: runs/compare, sweep, plot, new, list, summary, TensorBoard, --mlflow."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from kproto.cli import cli

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
TF = ["--backend", "tensorflow"]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

RECIPE = """\
name: tiny
seed: 7
data:
  path: tiny.csv
  target: label
model:
  type: feedforward
  units: [8]
  dropout: 0.0
train:
  optimizer: {name: adam, learning_rate: 0.001}
  epochs: 2
  batch_size: 16
"""


def _invoke(args: list[str]) -> str:
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def _check_png(path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    assert path.read_bytes()[:8] == PNG_SIGNATURE, path
    image = plt.imread(path)
    assert image.ndim == 3 and image.shape[0] > 50 and image.shape[1] > 50


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two finished tiny binary-classification runs (units 8 vs 16) and one broken run folder."""
    folder = tmp_path_factory.mktemp("workflow")
    rng = np.random.default_rng(3)
    n = 120
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    label = np.where(x1 + 0.5 * x2 > 0, "yes", "no")
    pd.DataFrame({"x1": x1, "x2": x2, "label": label}).to_csv(folder / "tiny.csv", index=False)
    recipe = folder / "tiny.yaml"
    recipe.write_text(RECIPE)
    runs = folder / "runs"
    _invoke(["train", recipe, "--out", runs, *TF, "--set", "name=tiny-a"])
    _invoke(
        [
            "train",
            recipe,
            "--out",
            runs,
            *TF,
            "--set",
            "name=tiny-b",
            "--set",
            "model.units=[16]",
            "--set",
            "train.optimizer.learning_rate=0.01",
        ]
    )
    broken = runs / "broken" / "20200101-000000"
    broken.mkdir(parents=True)
    (broken / "recipe.yaml").write_text("data: [unclosed\n")
    return {
        "folder": folder,
        "recipe": recipe,
        "runs": runs,
        "broken": broken,
        "a": next((runs / "tiny-a").iterdir()),
        "b": next((runs / "tiny-b").iterdir()),
    }


# ----------------------------------------------------------------------------- runs
def test_runs_table_lists_every_run_and_marks_broken(workspace: dict[str, Path]) -> None:
    output = _invoke(["runs", workspace["runs"]])
    assert "tiny-a" in output and "tiny-b" in output
    assert "broken" in output
    assert "model.units" in output  # the only recipe fields that differ are shown
    assert "[16]" in output


def test_runs_sort_json_and_csv(workspace: dict[str, Path]) -> None:
    rows = json.loads(_invoke(["runs", workspace["runs"], "--sort", "val_loss", "--json"]))
    losses = [r["validation"].get("loss") for r in rows if r["status"] == "completed"]
    assert losses == sorted(losses)
    assert rows[-1]["status"] == "broken"  # no value: last
    rows = json.loads(_invoke(["runs", workspace["runs"], "--sort", "test.accuracy", "--json"]))
    accuracies = [r["test"]["accuracy"] for r in rows if r["status"] == "completed"]
    assert accuracies == sorted(accuracies, reverse=True)
    assert rows[0]["params"]["model.units"] in ([8], [16])
    table = list(
        csv.DictReader(io.StringIO(_invoke(["runs", workspace["runs"], "--csv", "--sort", "validation.loss"])))
    )
    assert {r["name"] for r in table} == {"tiny-a", "tiny-b", "broken"}
    assert "validation.loss" in table[0] and "model.units" in table[0]


def test_runs_filter(workspace: dict[str, Path]) -> None:
    rows = json.loads(_invoke(["runs", workspace["runs"], "--filter", "tiny-a", "--json"]))
    assert [r["name"] for r in rows] == ["tiny-a"]
    rows = json.loads(_invoke(["runs", workspace["runs"], "--filter", "model.units=[16]", "--json"]))
    assert [r["name"] for r in rows] == ["tiny-b"]
    rows = json.loads(
        _invoke(["runs", workspace["runs"], "--filter", "status=completed", "--filter", "epochs>=2", "--json"])
    )
    assert sorted(r["name"] for r in rows) == ["tiny-a", "tiny-b"]


def test_runs_unknown_sort_key_suggests(workspace: dict[str, Path]) -> None:
    result = CliRunner().invoke(cli, ["runs", str(workspace["runs"]), "--sort", "test.acuracy"])
    assert result.exit_code == 2
    assert "did you mean 'test.accuracy'" in result.output


def test_compare_shows_differing_fields_and_plots(workspace: dict[str, Path]) -> None:
    plot = workspace["folder"] / "compare.png"
    output = _invoke(["runs", "--compare", workspace["a"], workspace["b"], "--plot", plot])
    assert "model.units" in output and "train.optimizer.learning_rate" in output
    assert "delta" in output and "validation" in output
    _check_png(plot)
    data = json.loads(_invoke(["runs", "--compare", workspace["a"], workspace["b"], "--json"]))
    assert {f["field"] for f in data["fields"]} >= {"model.units", "name"}
    loss = next(m for m in data["metrics"] if m["split"] == "test" and m["metric"] == "loss")
    assert loss["delta"] == pytest.approx(loss["b"] - loss["a"])


def test_tensorboard_events_are_readable(workspace: dict[str, Path]) -> None:
    from kproto.eventlog import read_scalars

    files = sorted((workspace["a"] / "tensorboard").rglob("events.out.tfevents.*"))
    assert {f.parent.name for f in files} == {"train", "validation"}
    train = next(f for f in files if f.parent.name == "train")
    scalars = read_scalars(train)
    assert [(step, tag) for step, tag, _ in scalars if tag == "epoch_loss"] == [(1, "epoch_loss"), (2, "epoch_loss")]
    import tensorflow as tf
    from tensorflow.core.util import event_pb2

    events = [event_pb2.Event.FromString(r.numpy()) for r in tf.data.TFRecordDataset(str(train))]  # checks the CRCs
    assert events[0].file_version == "brain.Event:2"
    assert {v.tag for e in events for v in e.summary.value} >= {"epoch_loss", "epoch_accuracy", "epoch_learning_rate"}


def test_train_mlflow_without_mlflow_is_a_clear_error(workspace: dict[str, Path]) -> None:
    from kproto.backend import installed

    if installed("mlflow"):
        pytest.skip("mlflow is installed here")
    result = CliRunner().invoke(
        cli, ["train", str(workspace["recipe"]), "--mlflow", "--out", str(workspace["folder"] / "ml")]
    )
    assert result.exit_code == 2
    assert "pip install mlflow" in result.output
    assert not (workspace["folder"] / "ml").exists()


# ----------------------------------------------------------------------------- sweep
@pytest.mark.slow
def test_sweep_grid_trains_each_combination_and_ranks_them(workspace: dict[str, Path]) -> None:
    out = workspace["folder"] / "sweeps"
    output = _invoke(
        [
            "sweep",
            workspace["recipe"],
            "--grid",
            "train.optimizer.learning_rate=0.001,0.01",
            "--grid",
            "model.units=[4],[8]",
            "--out",
            out,
            "--set",
            "train.epochs=1",
            *TF,
        ]
    )
    (folder,) = out.iterdir()
    runs = [p for p in folder.rglob("metrics.json")]
    assert len(runs) == 4
    rows = list(csv.DictReader((folder / "sweep.csv").open()))
    assert len(rows) == 4
    values = [float(r["val_loss"]) for r in rows]
    assert values == sorted(values)
    assert {r["model.units"] for r in rows} == {"[4]", "[8]"}
    assert {r["train.optimizer.learning_rate"] for r in rows} == {"0.001", "0.01"}
    assert "ranked by val_loss" in output
    listed = json.loads(_invoke(["runs", folder, "--json"]))
    assert len(listed) == 4


@pytest.mark.slow
def test_sweep_records_a_failed_combination_and_random_sampling(workspace: dict[str, Path]) -> None:
    out = workspace["folder"] / "sweeps-failed"
    _invoke(
        [
            "sweep",
            workspace["recipe"],
            "--grid",
            "model.dropout=0.0,1.5",
            "--grid",
            "model.units=[4],[8]",
            "--random",
            "2",
            "--out",
            out,
            "--set",
            "train.epochs=1",
            *TF,
        ]
    )
    (folder,) = out.iterdir()
    rows = list(csv.DictReader((folder / "sweep.csv").open()))
    assert len(rows) == 2  # a seeded sample of the four combinations


def test_sweep_failed_value_is_not_fatal(workspace: dict[str, Path]) -> None:
    out = workspace["folder"] / "sweeps-bad"
    output = _invoke(
        ["sweep", workspace["recipe"], "--grid", "model.dropout=0.0,1.5", "--out", out, "--set", "train.epochs=1", *TF]
    )
    (folder,) = out.iterdir()
    rows = {r["model.dropout"]: r for r in csv.DictReader((folder / "sweep.csv").open())}
    assert rows["0"]["status"] == "completed" and rows["1.5"]["status"] == "failed"
    assert "failed" in output


def test_sweep_bad_key_stops_before_training(workspace: dict[str, Path]) -> None:
    result = CliRunner().invoke(
        cli,
        [
            "sweep",
            str(workspace["recipe"]),
            "--grid",
            "model.unitz=[4],[8]",
            "--out",
            str(workspace["folder"] / "never"),
            *TF,
        ],
    )
    assert result.exit_code == 2
    assert not (workspace["folder"] / "never").exists()


@pytest.mark.slow
def test_sweep_optuna(workspace: dict[str, Path]) -> None:
    out = workspace["folder"] / "sweeps-optuna"
    _invoke(
        [
            "sweep",
            workspace["recipe"],
            "--grid",
            "model.units=[4],[8]",
            "--search",
            "optuna",
            "--trials",
            "2",
            "--out",
            out,
            "--set",
            "train.epochs=1",
            *TF,
        ]
    )
    (folder,) = out.iterdir()
    rows = list(csv.DictReader((folder / "sweep.csv").open()))
    assert len(rows) == 2 and all(r["status"] == "completed" for r in rows)


# ----------------------------------------------------------------------------- plot
def test_plot_binary_classification(workspace: dict[str, Path]) -> None:
    output = _invoke(["plot", workspace["a"]])
    for name in ("curves.png", "confusion.png", "roc.png", "precision_recall.png"):
        assert name in output
        _check_png(workspace["a"] / name)


def test_plot_functions_directly(tmp_path: Path) -> None:
    from kproto import plots

    rng = np.random.default_rng(0)
    actual = rng.normal(size=60)
    predicted = actual + rng.normal(scale=0.3, size=60)
    fpr, tpr, auc = plots.roc_points(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8]))
    assert auc == pytest.approx(0.75)
    _, _, average = plots.pr_points(np.array([0, 1, 1]), np.array([0.9, 0.8, 0.7]))
    assert average == pytest.approx(0.5 * 0.5 + 0.5 * (2 / 3))
    for path in (
        plots.predicted_vs_actual(actual, predicted, tmp_path / "pva.png"),
        plots.residuals(actual, predicted, tmp_path / "res.png"),
        plots.forecast(actual, predicted, tmp_path / "fc.png", naive=np.roll(actual, 1)),
        plots.reconstruction(rng.normal(size=(5, 6)), rng.normal(size=(5, 6)), tmp_path / "rec.png"),
        plots.sample_grid(rng.uniform(size=(10, 64)), tmp_path / "grid.png"),
    ):
        _check_png(path)


# ----------------------------------------------------------------------------- new (+ validate, train, plot)
FAMILY_DATA = {
    "feedforward": ("iris.csv", ["confusion.png"]),
    "sequential": ("iris.csv", ["confusion.png"]),
    "cnn": ("digits.csv", ["confusion.png"]),
    "rnn": ("sunspots.csv", ["forecast.png", "predicted_vs_actual.png", "residuals.png"]),
    "gru": ("co2.csv", ["forecast.png"]),
    "lstm": ("sunspots.csv", ["forecast.png"]),
    "transformer": ("reviews.csv", ["confusion.png", "roc.png", "precision_recall.png"]),
    "autoencoder": ("digits.csv", ["reconstruction.png"]),
    "gan": ("digits.csv", ["samples.png"]),
}
QUICK = {  # keep the slow families tiny
    "transformer": ["--set", "data.sequence_length=32", "--set", "model.layers=1", "--set", "data.vocab_size=2000"],
    "cnn": ["--set", "model.filters=[8]", "--set", "model.dense=[16]"],
}


@pytest.mark.slow
@pytest.mark.parametrize("family", list(FAMILY_DATA))
def test_new_recipe_validates_trains_and_plots(family: str, tmp_path: Path) -> None:
    from kproto.models import FAMILIES

    module = FAMILIES[family].replace(".", "/") + ".py"
    if not (ROOT / module).exists():
        pytest.skip(f"{module} is not written yet")
    data, plots = FAMILY_DATA[family]
    recipe = tmp_path / "recipes" / f"{family}.yaml"
    _invoke(["new", family, "--data", DATA / data, "--out", recipe])
    text = recipe.read_text()
    assert f"type: {family}" in text and "#" in text
    overrides = ["--set", "train.epochs=1", "--set", "data.limit=200", *QUICK.get(family, [])]
    assert "OK" in _invoke(["validate", recipe, *overrides])
    _invoke(["train", recipe, "--out", tmp_path / "runs", *TF, *overrides])
    (run,) = (tmp_path / "runs" / family).iterdir()
    output = _invoke(["plot", run])
    for name in ["curves.png", *plots]:
        assert name in output, output
        _check_png(run / name)


def test_new_fills_in_the_data(tmp_path: Path) -> None:
    digits = _invoke(["new", "cnn", "--data", DATA / "digits.csv"])
    assert "target: label" in digits and "shape: [8, 8, 1]" in digits
    text = _invoke(["new", "lstm", "--data", DATA / "reviews.csv"])
    assert "text: review" in text and "target: score" in text
    series = _invoke(["new", "gru", "--data", DATA / "sunspots.csv"])
    assert "window:" in series and "target: sunspots" in series
    credit = _invoke(["new", "feedforward", "--data", DATA / "credit.csv", "--target", "status"])
    assert "target: status" in credit and "categorical" in credit
    rows = pd.DataFrame({"a": np.arange(40), "target": np.arange(40) % 2})
    rows.to_csv(tmp_path / "t.csv", index=False)
    assert "target: target" in _invoke(["new", "feedforward", "--data", tmp_path / "t.csv"])


def test_new_errors(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["new", "feedforwrd"])
    assert result.exit_code == 2
    assert "Did you mean 'feedforward'?" in result.output
    out = tmp_path / "r.yaml"
    out.write_text("keep me\n")
    result = CliRunner().invoke(cli, ["new", "feedforward", "--data", str(DATA / "iris.csv"), "--out", str(out)])
    assert result.exit_code == 2 and "never overwrites" in result.output
    assert out.read_text() == "keep me\n"
    result = CliRunner().invoke(cli, ["new", "cnn", "--data", str(DATA / "iris.csv")])
    assert result.exit_code == 2 and "cnn needs images" in result.output


# ----------------------------------------------------------------------------- list / summary / help / completion
def test_list() -> None:
    output = _invoke(["list"])
    for name in ("feedforward", "adam", "cosine", "gelu", "accuracy", "rotation", "sparse_categorical_crossentropy"):
        assert name in output
    losses = _invoke(["list", "losses"])
    assert "huber" in losses and "adamw" not in losses
    assert "transformer" in _invoke(["list", "family"])
    result = CliRunner().invoke(cli, ["list", "optimisers"])
    assert result.exit_code == 2 and "Did you mean 'optimizers'?" in result.output


def test_summary(workspace: dict[str, Path]) -> None:
    output = _invoke(["summary", workspace["recipe"], "--set", "model.units=[12, 6]", *TF])
    assert "dense_0" in output and "dense_1" in output and "output shape" in output
    assert "(batch, 12)" in output
    params = 2 * 12 + 12 + 12 * 6 + 6 + 6 * 2 + 2
    assert f"{params:,} total" in output


def test_help_and_completion_stay_light() -> None:
    code = "import sys, kproto.cli; sys.exit(any(m in sys.modules for m in ('keras', 'tensorflow', 'pandas', 'rich')))"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
    env = {**os.environ, "_KPROTO_COMPLETE": "bash_source"}
    script = subprocess.run([sys.executable, "-m", "kproto.cli"], env=env, capture_output=True, text=True)
    assert "complete" in script.stdout and "_KPROTO_COMPLETE" in script.stdout
    env = {**os.environ, "_KPROTO_COMPLETE": "bash_complete", "COMP_WORDS": "kproto new tra", "COMP_CWORD": "2"}
    words = subprocess.run([sys.executable, "-m", "kproto.cli"], env=env, capture_output=True, text=True)
    assert "transformer" in words.stdout
