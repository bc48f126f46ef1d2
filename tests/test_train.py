"""A real train → evaluate → predict round trip through the CLI, and same recipe + seed → same results."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from kproto.cli import cli

pytestmark = pytest.mark.slow

EPOCHS = 2
RECIPE = """\
seed: {seed}
data:
  path: tiny.csv
  target: label
model:
  type: feedforward
  units: [16]
train:
  batch_size: 16
"""


def tiny_frame(n: int, seed: int) -> pd.DataFrame:
    """Two numeric columns (one with gaps), a string column with gaps, a 3-class string target."""
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    color = rng.choice(["red", "green", "blue"], size=n).astype(object)
    color[::13] = None
    label = np.where(x1 + 0.3 * x2 > 0.4, "high", np.where(x1 < -0.4, "low", "mid"))
    x2_gaps = x2.copy()
    x2_gaps[::11] = np.nan
    return pd.DataFrame({"x1": x1, "x2": x2_gaps, "color": color, "label": label})


def train_run(folder: Path, seed: int = 42, *extra: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "tiny.csv").exists():
        tiny_frame(150, 0).to_csv(folder / "tiny.csv", index=False)
    recipe = folder / "tiny_run.yaml"
    recipe.write_text(RECIPE.format(seed=seed))
    result = CliRunner().invoke(
        cli,
        [
            "train",
            str(recipe),
            "--backend",
            "tensorflow",
            "--out",
            str(folder / "runs"),
            "--set",
            f"train.epochs={EPOCHS}",
            *extra,
        ],
    )
    assert result.exit_code == 0, result.output
    runs = sorted((folder / "runs" / "tiny-run").iterdir())
    assert str(runs[-1]) in result.output.replace("\n", "")
    return runs[-1]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_run(tmp_path_factory.mktemp("train"))


def test_run_directory_has_every_file(run: Path) -> None:
    for name in ("recipe.yaml", "model.keras", "history.csv", "metrics.json", "curves.png", "preprocess.json"):
        assert (run / name).is_file() and (run / name).stat().st_size > 0, name
    assert (run / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(run.glob("**/*.tmp")) and not list(run.glob("**/.partial*"))


def test_history_has_a_row_per_epoch_with_the_learning_rate(run: Path) -> None:
    rows = list(csv.DictReader(io.StringIO((run / "history.csv").read_text())))
    metrics = json.loads((run / "metrics.json").read_text())
    assert len(rows) == metrics["epochs"] == EPOCHS
    assert [int(r["epoch"]) for r in rows] == list(range(1, EPOCHS + 1))
    for row in rows:
        assert float(row["learning_rate"]) > 0
        for key in ("loss", "val_loss", "accuracy", "val_accuracy"):
            assert np.isfinite(float(row[key])), key


def test_metrics_json(run: Path) -> None:
    metrics = json.loads((run / "metrics.json").read_text())
    assert {"train", "validation", "test", "epochs", "seconds", "seed", "versions"} <= set(metrics)
    assert metrics["status"] == "completed"
    assert metrics["seed"] == 42
    assert metrics["seconds"] > 0
    assert "keras" in metrics["versions"]
    for split in ("train", "validation", "test"):
        assert {"loss", "accuracy"} <= set(metrics[split])
        assert 0.0 <= metrics[split]["accuracy"] <= 1.0


def test_saved_recipe_is_fully_resolved(run: Path) -> None:
    import yaml

    saved = yaml.safe_load((run / "recipe.yaml").read_text())
    assert saved["train"]["epochs"] == EPOCHS  # the --set value
    assert saved["name"] == "tiny-run"
    assert Path(saved["data"]["path"]).is_absolute()
    assert saved["train"]["early_stopping"]["patience"] == 5  # defaults are written out
    assert saved["data"]["split"] == {"validation": 0.15, "test": 0.15}


def test_imputation_is_recorded_in_preprocess_json(run: Path) -> None:
    saved = json.loads((run / "preprocess.json").read_text())
    imputed = saved["state"]["imputed"]
    assert set(imputed) == {"x2", "color"}
    columns = {c["name"]: c for c in saved["state"]["columns"]}
    assert str(round(columns["x2"]["fill"], 2))[:3] in imputed["x2"]
    assert columns["color"]["fill"] in imputed["color"]
    assert saved["info"]["class_names"] == ["high", "low", "mid"]


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
    assert (run / "confusion.png").is_file()


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


def test_predict_gives_original_labels_and_probabilities(run: Path, runner: CliRunner, tmp_path: Path) -> None:
    fresh = tiny_frame(25, 7).drop(columns=["label"])
    path = tmp_path / "rows.csv"
    fresh.to_csv(path, index=False)
    printed = runner.invoke(cli, ["predict", str(run), "--data", str(path)])
    assert printed.exit_code == 0, printed.output
    out = tmp_path / "pred.csv"
    written = runner.invoke(cli, ["predict", str(run), "--data", str(path), "--out", str(out)])
    assert written.exit_code == 0, written.output
    frame = pd.read_csv(out)
    assert len(frame) == len(fresh)
    assert set(frame["prediction"]) <= {"high", "low", "mid"}
    probabilities = frame[["p_high", "p_low", "p_mid"]].to_numpy()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    picked = np.asarray(["high", "low", "mid"])[probabilities.argmax(axis=1)]
    assert (picked == frame["prediction"].to_numpy()).all()
    assert frame.equals(pd.read_csv(io.StringIO(printed.stdout)))


def test_predict_refuses_rows_without_the_features(run: Path, runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "wrong.csv"
    tiny_frame(5, 1).drop(columns=["x1"]).to_csv(path, index=False)
    result = runner.invoke(cli, ["predict", str(run), "--data", str(path)])
    assert result.exit_code == 2
    assert "x1" in result.output and "Traceback" not in result.output


def test_same_recipe_and_seed_give_the_same_split_and_metrics(run: Path, tmp_path: Path) -> None:
    again = train_run(tmp_path)
    first = json.loads((run / "preprocess.json").read_text())
    second = json.loads((again / "preprocess.json").read_text())
    assert first["info"]["rows"] == second["info"]["rows"]
    assert first["state"]["columns"] == second["state"]["columns"]  # fitted on exactly the same training rows
    a = json.loads((run / "metrics.json").read_text())
    b = json.loads((again / "metrics.json").read_text())
    for split in ("train", "validation", "test"):
        for key in a[split]:
            assert round(a[split][key], 4) == round(b[split][key], 4), (split, key)


def test_a_different_seed_gives_a_different_split(make_recipe, tmp_path: Path) -> None:
    from kproto.data import load_dataset
    from kproto.recipe import load_recipe

    tiny_frame(150, 0).to_csv(tmp_path / "tiny.csv", index=False)
    tests = [load_dataset(load_recipe(make_recipe(RECIPE.format(seed=s))).recipe).x_test for s in (42, 42, 43)]
    np.testing.assert_array_equal(tests[0], tests[1])
    assert not np.array_equal(tests[0], tests[2])


def test_the_minimal_recipe_learns_ordinary_tabular_data(tmp_path: Path) -> None:
    """Only data {path, target} + model {type}: beats the majority class clearly within a few epochs."""
    rng = np.random.default_rng(5)
    n = 600
    frame = pd.DataFrame(
        {"a": rng.normal(size=n), "b": rng.uniform(0, 1000, size=n), "kind": rng.choice(["u", "v"], size=n)}
    )
    frame["target"] = np.where(frame["a"] + (frame["b"] - 500) / 300 + (frame["kind"] == "u") > 0.5, "yes", "no")
    frame.loc[frame.index[::9], "b"] = np.nan
    frame.to_csv(tmp_path / "plain.csv", index=False)
    recipe = tmp_path / "plain.yaml"
    recipe.write_text("data: {path: plain.csv, target: target}\nmodel: {type: feedforward}\n")
    result = CliRunner().invoke(
        cli,
        ["train", str(recipe), "--backend", "tensorflow", "--out", str(tmp_path / "runs"), "--set", "train.epochs=8"],
    )
    assert result.exit_code == 0, result.output
    metrics = json.loads(next((tmp_path / "runs").glob("plain/*/metrics.json")).read_text())
    assert metrics["test"]["accuracy"] >= metrics["baselines"]["majority_class_accuracy"] + 0.2
