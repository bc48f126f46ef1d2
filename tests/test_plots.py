"""kproto.report.plots: each drawing function on tiny arrays writes a readable PNG (no model, no run folder)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kproto.report import plots

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def check_png(path: Path) -> None:
    """A real PNG image of a sensible size."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    assert path.read_bytes()[:8] == PNG_SIGNATURE, path
    image = plt.imread(path)
    assert image.ndim == 3 and image.shape[0] > 50 and image.shape[1] > 50


def test_roc_and_pr_points() -> None:
    fpr, tpr, auc = plots.roc_points(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8]))
    assert auc == pytest.approx(0.75)
    assert fpr[0] == tpr[0] == 0.0 and fpr[-1] == tpr[-1] == 1.0
    _, _, average = plots.pr_points(np.array([0, 1, 1]), np.array([0.9, 0.8, 0.7]))
    assert average == pytest.approx(0.5 * 0.5 + 0.5 * (2 / 3))


def test_plot_functions_directly(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    actual = rng.normal(size=60)
    predicted = actual + rng.normal(scale=0.3, size=60)
    labels = (actual > 0).astype(int)
    for path in (
        plots.predicted_vs_actual(actual, predicted, tmp_path / "pva.png"),
        plots.residuals(actual, predicted, tmp_path / "res.png"),
        plots.forecast(
            (np.arange(60), actual),
            [(np.arange(50, 55), predicted[:5]), (np.arange(55, 60), predicted[5:10])],
            tmp_path / "fc.png",
            future={
                "x": np.arange(60, 65),
                "prediction": predicted[:5],
                "lower": predicted[:5] - 1,
                "upper": predicted[:5] + 1,
                "coverage": 0.9,
            },
        ),
        plots.reconstruction(rng.normal(size=(5, 6)), rng.normal(size=(5, 6)), tmp_path / "rec.png"),
        plots.reconstruction(rng.uniform(size=(5, 8, 8, 1)), rng.uniform(size=(5, 8, 8, 1)), tmp_path / "rec-img.png"),
        plots.sample_grid(rng.uniform(size=(10, 64)), tmp_path / "grid.png"),
        plots.roc_curve(labels == 1, predicted, tmp_path / "roc.png", "yes"),
        plots.precision_recall(labels == 1, predicted, tmp_path / "pr.png", "yes"),
    ):
        check_png(path)


def test_learning_curves_and_comparison(tmp_path: Path) -> None:
    history = [
        {"epoch": e, "loss": 1.0 / e, "val_loss": 1.2 / e, "accuracy": 0.5 + e / 10, "seconds": 0.1} for e in (1, 2, 3)
    ]
    other = [{**row, "loss": row["loss"] * 0.9} for row in history]
    check_png(plots.learning_curves(history, tmp_path / "curves.png", title="tiny"))
    check_png(plots.compare_curves(history, other, tmp_path / "compare.png", "a", "b"))
    check_png(plots.learning_curves([], tmp_path / "empty.png"))  # no epoch finished: an empty loss panel


def test_confusion_matrix_from_a_report(tmp_path: Path) -> None:
    report = {"confusion": [[5, 1], [2, 7]], "classes": ["no", "yes"], "accuracy": 12 / 15}
    check_png(plots.confusion_matrix(report, tmp_path / "confusion.png"))


def test_sample_grid_titles_images_with_their_labels(tmp_path: Path) -> None:
    images = np.random.default_rng(1).uniform(size=(12, 8, 8, 1))
    path = plots.sample_grid(images, tmp_path / "samples.png", (8, 8, 1), labels=[str(i % 3) for i in range(12)])
    check_png(path)
    table_rows = np.random.default_rng(2).normal(size=(20, 3))
    check_png(plots.sample_grid(table_rows, tmp_path / "hist.png", (3,), real=table_rows + 1, feature_names=["a", "b"]))


def test_image_rows_and_table(tmp_path: Path) -> None:
    images = np.random.default_rng(3).uniform(size=(20, 8, 8, 1))
    check_png(plots.image_rows(images, tmp_path / "rows.png", "epoch 1", labels=list(range(20))))
    check_png(plots.image_rows(np.random.default_rng(4).uniform(size=(3, 6, 6, 3)), tmp_path / "rgb.png"))
    frame = pd.DataFrame({"label": ["a", "b"], "x": [1.23456, 2.0], "colour": ["red", "blue"]})
    check_png(plots.table(frame, tmp_path / "table.png", "samples"))


def test_a_figure_is_written_atomically(tmp_path: Path) -> None:
    from kproto.core.errors import RunError

    target = tmp_path / "curves.png"
    target.write_bytes(b"old")
    plots.learning_curves([{"epoch": 1, "loss": 1.0}], target)
    assert target.read_bytes()[:8] == PNG_SIGNATURE
    assert [p.name for p in tmp_path.iterdir()] == ["curves.png"]  # no temporary file left behind
    with pytest.raises(RunError):
        plots.learning_curves([{"epoch": 1, "loss": 1.0}], tmp_path / "missing" / "curves.png")
