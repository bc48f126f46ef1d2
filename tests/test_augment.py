"""kproto.training.augment: image augmentation is active only while training and exports; sequence noise and masking."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras
import numpy as np
import pandas as pd
import pytest
from helpers import (
    recipe_for,
    train,
)

from kproto.cli import cli


@pytest.fixture
def tiny_images(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 16, size=(90, 16))
    frame = pd.DataFrame(x, columns=[f"p{i}" for i in range(16)])
    frame["label"] = (x[:, :8].sum(axis=1) > x[:, 8:].sum(axis=1)).astype(int)
    path = tmp_path / "images.csv"
    frame.to_csv(path, index=False)
    return path


def _inner(model: keras.Model) -> keras.Model:
    (inner,) = [layer for layer in model.layers if isinstance(layer, keras.Model)]
    return inner


@pytest.mark.slow
def test_image_augmentation_is_training_only_and_exports(runner: Any, tmp_path: Path, tiny_images: Path) -> None:
    augment = {"flip": "horizontal", "rotation": 0.1, "zoom": 0.1, "translation": 0.1, "contrast": 0.2, "noise": 0.05}
    recipe = {
        **recipe_for(tiny_images, epochs=1),
        "data": {"path": str(tiny_images), "target": "label", "shape": [4, 4, 1], "augment": augment},
    }
    run = train(runner, tmp_path, recipe)
    model = keras.saving.load_model(run / "model.keras", safe_mode=True)
    (layer,) = [layer for layer in model.layers if layer.name == "augmentation"]
    assert {step.name for step in layer.steps} == {f"augment_{k}" for k in augment}
    x = np.random.default_rng(1).uniform(size=(8, 4, 4, 1)).astype("float32")
    plain = _inner(model).predict(x, verbose=0)
    np.testing.assert_allclose(model.predict(x, verbose=0), plain, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(x)), plain, rtol=1e-5, atol=1e-6)
    augmented = keras.ops.convert_to_numpy(model(x, training=True))
    assert not np.allclose(augmented, plain)  # active while training
    result = runner.invoke(cli, ["export", str(run), "--format", "savedmodel"])
    assert result.exit_code == 0, result.output


def test_sequence_augmentation(tmp_path: Path) -> None:
    from kproto.core.errors import RecipeError
    from kproto.data.dataset import DataInfo
    from kproto.recipe.schema import Augment
    from kproto.training.augment import RandomMasking, augmentation_layers

    info = DataInfo(task="regression", kind="window", input_shape=(6, 2))
    layers = augmentation_layers(Augment(noise=0.1, mask=0.5), info)
    assert [type(layer).__name__ for layer in layers] == ["GaussianNoise", "RandomMasking"]
    x = np.ones((64, 6, 2), "float32")
    masked = keras.ops.convert_to_numpy(RandomMasking(0.5, seed=1)(x, training=True))
    assert np.array_equal(RandomMasking(0.5, seed=1)(x, training=False), x)
    steps = masked[..., 0]
    assert np.array_equal(masked[..., 0], masked[..., 1]) and 0.3 < (steps == 0).mean() < 0.7  # whole steps
    clone = RandomMasking.from_config(RandomMasking(0.25).get_config())
    assert clone.rate == 0.25
    with pytest.raises(RecipeError) as err:
        augmentation_layers(Augment(flip="horizontal"), info)
    assert err.value.field == "data.augment.flip"
    text = DataInfo(task="classification", kind="text", input_shape=(10,), num_classes=2)
    with pytest.raises(RecipeError):
        augmentation_layers(Augment(noise=0.1), text)
    assert len(augmentation_layers(Augment(mask=0.1), text)) == 1
