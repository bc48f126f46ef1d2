"""Every shipped recipe validates as written and trains one epoch (the quality runs live in bench/). Recipes whose
epoch is long train on their first rows (ROWS), which exercises the same code in a fraction of the time."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from kproto.cli import cli

RECIPES = sorted((Path(__file__).resolve().parent.parent / "recipes").glob("*.yaml"))
# data.limit of the recipes whose epoch is long (convolutions on 1797 digits, MobileNet on 32x32 images, 4000
# reviews or tweets, 100,000 ratings, 25000 words); every class keeps rows in each split
ROWS = {
    "digits_cnn": 600,
    "digits_cnn_adversarial": 600,
    "digits_mobilenet": 400,
    "movielens_mf": 20000,
    "movielens_ranking": 20000,
    "pronunciations_seq2seq": 1500,
    "reviews_bert": 800,
    "reviews_lstm": 800,
    "reviews_several_inputs": 800,
    "reviews_transformer": 800,
    "spellings_seq2seq": 1500,
    "tweets_several_inputs": 800,
}


def test_recipes_are_shipped() -> None:
    names = {path.stem for path in RECIPES}
    assert {"digits_mlp", "digits_cnn", "reviews_lstm", "reviews_transformer", "sunspots_gru", "sunspots_lstm"} <= names
    assert {"digits_autoencoder", "digits_gan", "digits_sequential", "diabetes_regression"} <= names
    assert {"digits_pretrain_04", "digits_finetune_59", "digits_scratch_59", "digits_mobilenet"} <= names
    assert "reviews_bert" in names
    assert {"pronunciations_seq2seq", "spellings_seq2seq", "movielens_mf", "movielens_ranking"} <= names
    assert {"co2_forecast", "airpassengers_forecast"} <= names
    assert {"reviews_several_inputs", "tweets_several_inputs"} <= names
    assert "default_two_targets" in names


def _train(runner, recipe: Path, out: Path, *overrides: str) -> None:
    """One epoch of `recipe` on TensorFlow, into `out`."""
    args = ["train", str(recipe), "--set", "train.epochs=1", "--out", str(out), "--backend", "tensorflow", *overrides]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="module")
def pretrain_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """digits_pretrain_04 trained once: its own test checks the run, digits_finetune_59 starts from it."""
    out = tmp_path_factory.mktemp("pretrain")
    _train(CliRunner(), RECIPES[0].parent / "digits_pretrain_04.yaml", out)
    return out


def _prerequisites(request: pytest.FixtureRequest, recipe: Path, folder: Path) -> list[str]:
    """What a recipe needs, as --set overrides: the run a fine-tuning recipe starts from, the local preset folder
    a KerasHub recipe reads (scripts/make_text_preset.py writes the shipped one), the row limit (ROWS)."""
    limit = ["--set", f"data.limit={ROWS[recipe.stem]}"] if recipe.stem in ROWS else []
    if recipe.stem == "digits_finetune_59":
        return ["--set", f"model.source={request.getfixturevalue('pretrain_runs') / 'digits-pretrain-04'}", *limit]
    if recipe.stem == "reviews_bert":
        from pretrained_cases import bert_preset

        return ["--set", f"model.source={bert_preset(folder / 'preset', max_sequence_length=128)}", *limit]
    return limit


@pytest.mark.slow
@pytest.mark.parametrize("recipe", RECIPES, ids=lambda path: path.stem)
def test_shipped_recipe_trains_one_epoch(runner, request: pytest.FixtureRequest, tmp_path: Path, recipe: Path) -> None:
    checked = runner.invoke(cli, ["validate", str(recipe)])
    assert checked.exit_code == 0, checked.output
    if recipe.stem == "digits_pretrain_04":  # trained once for this test and the fine-tuning recipe's
        out = request.getfixturevalue("pretrain_runs")
    else:
        out = tmp_path
        _train(runner, recipe, out, *_prerequisites(request, recipe, tmp_path / "prerequisites"))
    (metrics_file,) = out.glob("*/*/metrics.json")
    metrics = json.loads(metrics_file.read_text())
    assert metrics["status"] == "completed" and metrics["epochs"] == 1
    assert (metrics_file.parent / "model.keras").is_file()
