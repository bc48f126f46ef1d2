"""The experiment workflow on real tiny runs: plot and TensorBoard.

Listing and comparing runs: test_index.py; sweeps: test_sweep.py; `kproto new`: test_scaffold.py; list, summary and
help: test_cli.py; --mlflow: test_tracking.py.
"""

from __future__ import annotations

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
