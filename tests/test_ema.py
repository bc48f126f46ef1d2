"""kproto/training/ema.py: with `use_ema` the weight averages are what each epoch is judged on and what the run keeps,
while training goes on from the trained weights."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from helpers import history, metrics, recipe_for, train

from kproto.cli import cli
from kproto.training.ema import AveragedWeights, averaging_optimizers

ROOT = Path(__file__).resolve().parent.parent


def _compiled(use_ema: bool, mixed: bool = False) -> object:
    import keras

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="dense")])
    optimizer = keras.optimizers.Adam(use_ema=use_ema)
    if mixed:
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    model.compile(optimizer=optimizer, loss="mse")
    model.optimizer.build(model.trainable_variables)
    return model


def _values(variables: list) -> list[np.ndarray]:
    import keras

    return [keras.ops.convert_to_numpy(v).copy() for v in variables]


def test_only_an_averaging_optimizer_is_found() -> None:
    assert averaging_optimizers(_compiled(use_ema=False)) == []
    assert AveragedWeights.of(_compiled(use_ema=False)) is None
    model = _compiled(use_ema=True, mixed=True)  # loss scaling wraps the optimizer that averages
    (found,) = averaging_optimizers(model)
    assert found is model.optimizer.inner_optimizer


def test_swapping_shows_the_averages_and_gives_the_trained_weights_back() -> None:
    model = _compiled(use_ema=True)
    optimizer = model.optimizer
    trained = _values(model.trainable_variables)
    for average, value in zip(optimizer._model_variables_moving_average, trained, strict=True):
        average.assign(value + 1.0)  # averages that differ from the trained weights
    swapper = AveragedWeights.of(model)
    assert swapper is not None and not swapper.averaged

    swapper.show_average()
    swapper.show_average()  # a second call changes nothing
    assert swapper.averaged
    for shown, value in zip(_values(model.trainable_variables), trained, strict=True):
        np.testing.assert_allclose(shown, value + 1.0)
    for kept, value in zip(_values(optimizer._model_variables_moving_average), trained, strict=True):
        np.testing.assert_allclose(kept, value)

    swapper.show_trained()
    assert not swapper.averaged
    for shown, value in zip(_values(model.trainable_variables), trained, strict=True):
        np.testing.assert_allclose(shown, value)

    swapper.finalize()  # the model keeps the averages, and the optimizer's averages equal them
    for shown, average, value in zip(
        _values(model.trainable_variables), _values(optimizer._model_variables_moving_average), trained, strict=True
    ):
        np.testing.assert_allclose(shown, value + 1.0)
        np.testing.assert_allclose(average, value + 1.0)


def _ema_recipe(data: Path, use_ema: bool, epochs: int = 4) -> dict:
    optimizer = {"name": "adam", "learning_rate": 0.05, "use_ema": use_ema, "ema_momentum": 0.9}
    recipe = recipe_for(data, epochs=epochs, optimizer=optimizer, early_stopping={"patience": 10})
    recipe["data"]["target"] = "y"
    return recipe


def _train_jax(folder: Path, recipe: dict, *args: str) -> Path:
    folder.mkdir(parents=True)
    (folder / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    env = {**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "kproto.cli", "train", "recipe.yaml", "--out", "runs", "--backend", "jax", *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (run,) = (p.parent for p in (folder / "runs").glob("*/*/metrics.json"))
    return run


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_the_averages_are_validated_and_kept_while_training_goes_on(
    runner: CliRunner, tmp_path: Path, tiny_regression: Path, backend: str
) -> None:
    """The same seed with and without use_ema: the training losses match epoch by epoch (training goes on from the
    trained weights, on `fit`'s engine too, which writes the averages in after each call), the validation losses do
    not (they score the averages), and the run's model is the best epoch's averages."""
    runs = {}
    for use_ema in (False, True):
        recipe = _ema_recipe(tiny_regression, use_ema)
        folder = tmp_path / f"ema-{use_ema}"
        if backend == "jax":  # Keras cannot switch backends within the test process
            runs[use_ema] = _train_jax(folder, recipe)
        else:
            runs[use_ema] = train(runner, folder, recipe, "--backend", backend)
    plain, averaged = history(runs[False]), history(runs[True])
    assert metrics(runs[True])["engine"] == ("fused" if backend == "jax" else "fit")
    np.testing.assert_allclose(averaged["loss"], plain["loss"], rtol=1e-4)
    assert not np.allclose(averaged["val_loss"], plain["val_loss"], rtol=1e-3)
    best = averaged["val_loss"].min()
    assert metrics(runs[True])["validation"]["loss"] == pytest.approx(best, rel=1e-4)


@pytest.mark.slow
def test_a_resumed_run_with_averages_ends_as_an_uninterrupted_one(
    runner: CliRunner, tmp_path: Path, tiny_regression: Path
) -> None:
    whole = train(runner, tmp_path / "whole", _ema_recipe(tiny_regression, True, epochs=4), "--backend", "tensorflow")
    part = train(runner, tmp_path / "part", _ema_recipe(tiny_regression, True, epochs=2), "--backend", "tensorflow")
    assert metrics(part)["epochs"] == 2
    done = runner.invoke(cli, ["train", "--resume", str(part), "--set", "train.epochs=4"])
    assert done.exit_code == 0, done.output
    resumed, reference = history(part), history(whole)
    assert list(resumed["epoch"]) == [1, 2, 3, 4]
    for column in ("loss", "val_loss"):
        np.testing.assert_allclose(resumed[column], reference[column], rtol=1e-4)
    assert metrics(part)["validation"]["loss"] == pytest.approx(metrics(whole)["validation"]["loss"], rel=1e-4)
