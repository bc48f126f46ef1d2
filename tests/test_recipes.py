"""Every shipped recipe validates and trains one epoch as written (the quality runs live in bench/)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kproto.cli import cli

RECIPES = sorted((Path(__file__).resolve().parent.parent / "recipes").glob("*.yaml"))


def test_recipes_are_shipped() -> None:
    names = {path.stem for path in RECIPES}
    assert {"digits_mlp", "digits_cnn", "reviews_lstm", "reviews_transformer", "sunspots_gru", "sunspots_lstm"} <= names
    assert {"digits_autoencoder", "digits_gan", "digits_sequential", "diabetes_regression"} <= names


@pytest.mark.slow
@pytest.mark.parametrize("recipe", RECIPES, ids=lambda path: path.stem)
def test_shipped_recipe_trains_one_epoch(runner, tmp_path: Path, recipe: Path) -> None:
    checked = runner.invoke(cli, ["validate", str(recipe)])
    assert checked.exit_code == 0, checked.output
    args = ["train", str(recipe), "--set", "train.epochs=1", "--out", str(tmp_path), "--backend", "tensorflow"]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    (metrics_file,) = tmp_path.glob("*/*/metrics.json")
    metrics = json.loads(metrics_file.read_text())
    assert metrics["status"] == "completed" and metrics["epochs"] == 1
    assert (metrics_file.parent / "model.keras").is_file()
