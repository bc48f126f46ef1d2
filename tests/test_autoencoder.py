"""kproto.models.autoencoder: the autoencoder family, directly and through the CLI (train, reload, predict --encode,
evaluate, export).

GAN sampling and judging: test_generate.py; the GAN engine: test_engines_gan.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import train_recipe

from kproto.cli import cli


# ----------------------------------------------------------------------------- autoencoder
def test_autoencoder_layers_mirror_and_encoder_is_recoverable() -> None:
    import keras

    from kproto.data import DataInfo
    from kproto.models.autoencoder import Autoencoder, build, encoder

    for shape, convolutional in (((8, 8, 1), False), ((8, 8, 1), True), ((7, 5, 1), True), ((12,), False)):
        info = DataInfo(task="reconstruction", kind="image" if len(shape) == 3 else "table", input_shape=shape)
        spec = Autoencoder(type="autoencoder", units=[16, 8], bottleneck=3, convolutional=convolutional, filters=[4, 8])
        model = build(spec, info)
        x = np.random.default_rng(0).uniform(size=(5, *shape)).astype(np.float32)
        assert model.predict(x, verbose=0).shape == x.shape
        assert encoder(model).predict(x, verbose=0).shape == (5, 3)
        if not convolutional:
            dense = [layer.units for layer in model.layers if isinstance(layer, keras.layers.Dense)]
            assert dense[:-1] == [16, 8, 3, 8, 16]


def test_pca_baseline_is_exact_for_low_rank_data() -> None:
    from kproto.data.dataset import pca_reconstruction_mse

    rng = np.random.default_rng(0)
    basis = rng.normal(size=(2, 6))
    train, test = rng.normal(size=(50, 2)) @ basis + 3.0, rng.normal(size=(20, 2)) @ basis + 3.0
    assert pca_reconstruction_mse(train, test, 2) < 1e-20
    assert pca_reconstruction_mse(train, test, 1) > 1e-3


@pytest.mark.slow
def test_autoencoder_train_predict_encode_evaluate_export(runner, make_recipe, digits: Path, tmp_path: Path) -> None:
    recipe = make_recipe(f"""
name: ae
data: {{path: {digits}, target: label, shape: [8, 8, 1]}}
model: {{type: autoencoder, units: [32], bottleneck: 4}}
train: {{epochs: 2, batch_size: 32}}
""")
    run = train_recipe(runner, recipe, tmp_path / "runs", "ae")
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["status"] == "completed"
    assert metrics["report"]["pca_mse"] == metrics["baselines"]["pca"]["mse"] > 0
    assert metrics["report"]["reconstruction_mse"] == pytest.approx(metrics["test"]["loss"], rel=1e-3)

    rows = pd.read_csv(digits).head(12)
    new = tmp_path / "new.csv"
    rows.drop(columns=["label"]).to_csv(new, index=False)
    out = tmp_path / "pred.csv"
    result = runner.invoke(cli, ["predict", str(run), "--data", str(new), "--encode", "--out", str(out)])
    assert result.exit_code == 0, result.output
    predicted = pd.read_csv(out)
    assert len(predicted) == 12
    assert [c for c in predicted if c.startswith("code_")] == ["code_0", "code_1", "code_2", "code_3"]

    # The reloaded model gives the same anomaly scores as the CLI.
    from kproto.data import Preprocessor, transform_rows
    from kproto.runs.load import load_keras_model, load_run

    loaded = load_run(run)
    model = load_keras_model(loaded.model_path)
    x, _ = transform_rows(Preprocessor.from_dict(loaded.preprocess), rows, need_target=False)
    errors = np.mean((model.predict(x, verbose=0) - x).reshape(12, -1) ** 2, axis=1)
    np.testing.assert_allclose(predicted["reconstruction_error"], errors, rtol=1e-4, atol=1e-7)

    result = runner.invoke(cli, ["evaluate", str(run)])
    assert result.exit_code == 0, result.output
    assert "reconstruction_mse" in result.output and "pca_mse" in result.output

    result = runner.invoke(cli, ["export", str(run), "--format", "savedmodel"])
    assert result.exit_code == 0, result.output
    assert (run / "export" / "model" / "saved_model.pb").exists()
