"""`kproto export`: SavedModel, ONNX and TFLite exports, each checked against the Keras model in its own runtime."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from kproto.cli import cli

pytestmark = pytest.mark.slow

FORMATS = {"savedmodel": ("tensorflow", ""), "onnx": ("onnxruntime", ".onnx"), "tflite": ("ai_edge_litert", ".tflite")}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-epoch classifier on 120 rows with numeric and one-hot columns."""
    folder = tmp_path_factory.mktemp("export")
    rng = np.random.default_rng(3)
    n = 120
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    frame = pd.DataFrame(
        {
            "x1": x1,
            "x2": x2,
            "color": rng.choice(["red", "green"], size=n),
            "label": np.where(x1 > 0.3, "a", np.where(x2 > 0, "b", "c")),
        }
    )
    frame.to_csv(folder / "t.csv", index=False)
    recipe = folder / "exp.yaml"
    recipe.write_text("data: {path: t.csv, target: label}\nmodel: {type: feedforward, units: [8]}\n")
    result = CliRunner().invoke(
        cli, ["train", str(recipe), "--backend", "tensorflow", "--out", str(folder / "runs"), "--set", "train.epochs=2"]
    )
    assert result.exit_code == 0, result.output
    return next((folder / "runs" / "exp").iterdir())


def keras_outputs(run: Path) -> tuple[np.ndarray, np.ndarray]:
    """Some real model inputs from the run's test split, and the Keras model's outputs on them."""
    from kproto.data import Preprocessor, load_dataset
    from kproto.runs.load import load_keras_model, load_run

    loaded = load_run(run)
    x = load_dataset(loaded.recipe, Preprocessor.from_dict(loaded.preprocess)).x_test[:5]
    model = load_keras_model(loaded.model_path, compile=False)
    return x, np.asarray(model.predict(x, verbose=0))


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_export_is_checked_against_keras(run: Path, runner: CliRunner, tmp_path: Path, fmt: str) -> None:
    module, suffix = FORMATS[fmt]
    pytest.importorskip(module)
    out = tmp_path / f"model{suffix}"
    result = runner.invoke(cli, ["export", str(run), "--format", fmt, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.exists()
    match = re.search(r"largest absolute difference ([0-9.e+-]+)", result.output)
    assert match, result.output
    assert float(match.group(1)) <= 1e-4
    assert not list(tmp_path.glob(".partial*"))

    again = runner.invoke(cli, ["export", str(run), "--format", fmt, "--out", str(out)])
    assert again.exit_code == 2
    assert "already exists" in again.output


def test_onnx_export_runs_in_onnxruntime(run: Path, runner: CliRunner, tmp_path: Path) -> None:
    ort = pytest.importorskip("onnxruntime")
    out = tmp_path / "m.onnx"
    assert runner.invoke(cli, ["export", str(run), "--format", "onnx", "--out", str(out)]).exit_code == 0
    x, expected = keras_outputs(run)
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x.astype(np.float32)})[0]
    np.testing.assert_allclose(got, expected, atol=1e-5)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-5)


def test_savedmodel_has_serving_default(run: Path, runner: CliRunner, tmp_path: Path) -> None:
    tf = pytest.importorskip("tensorflow")
    out = tmp_path / "saved"
    assert runner.invoke(cli, ["export", str(run), "--format", "savedmodel", "--out", str(out)]).exit_code == 0
    loaded = tf.saved_model.load(str(out))
    assert "serving_default" in loaded.signatures
    x, expected = keras_outputs(run)
    fn = loaded.signatures["serving_default"]
    ((name, _),) = fn.structured_input_signature[1].items()
    got = next(iter(fn(**{name: tf.constant(x)}).values())).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_default_export_path_is_inside_the_run(run: Path, runner: CliRunner) -> None:
    pytest.importorskip("onnxruntime")
    result = runner.invoke(cli, ["export", str(run), "--format", "onnx"])
    assert result.exit_code == 0, result.output
    assert (run / "export" / "model.onnx").is_file()
    refused = runner.invoke(cli, ["export", str(run), "--format", "onnx"])
    assert refused.exit_code == 2 and "already exists" in refused.output
