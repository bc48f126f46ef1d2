"""The transformer family's encoder choice: a bag of embeddings on few training texts unless the recipe pins the
blocks or the encoder; the choice is printed in the run header."""

from __future__ import annotations

from pathlib import Path

import pytest

from kproto.data.types import DataInfo
from kproto.models.transformer import SMALL_TEXT_ROWS, Transformer


def text_info(train_rows: int) -> DataInfo:
    info = DataInfo(task="classification", kind="text", input_shape=(12,), num_classes=2, vocab_size=30)
    info.rows = {"train": train_rows, "validation": 10, "test": 10}
    return info


@pytest.mark.parametrize(
    ("fields", "rows", "expected"),
    [
        ({}, 700, "bag"),
        ({}, SMALL_TEXT_ROWS - 1, "bag"),
        ({}, SMALL_TEXT_ROWS, "attention"),
        ({}, 0, "attention"),  # nothing known about the rows
        ({"layers": 1}, 700, "attention"),  # a block field in the recipe keeps the blocks
        ({"pooling": "cls"}, 700, "attention"),
        ({"embed_dim": 16, "dropout": 0.2}, 700, "bag"),  # sizes both encoders share leave the choice open
        ({"encoder": "attention"}, 700, "attention"),
        ({"encoder": "bag"}, 50_000, "bag"),
    ],
)
def test_encoder_follows_the_training_rows_unless_pinned(fields: dict, rows: int, expected: str) -> None:
    spec = Transformer(type="transformer", **fields)
    assert spec.encoder_for(text_info(rows))[0] == expected


def test_windows_and_tables_keep_the_attention_blocks() -> None:
    info = DataInfo(task="regression", kind="window", input_shape=(6, 2))
    info.rows = {"train": 100}
    spec = Transformer(type="transformer")
    assert spec.encoder_for(info)[0] == "attention"
    assert spec.chosen(info) == {}


def test_the_choice_says_why() -> None:
    spec = Transformer(type="transformer")
    (line,) = spec.chosen(text_info(700)).values()
    assert line.startswith("bag of embeddings") and "(700 training texts" in line and "model.encoder" in line
    assert Transformer(type="transformer", layers=1).chosen(text_info(700))["encoder"] == (
        "attention blocks (the recipe sets layers)"
    )


def test_the_bag_has_no_attention_and_a_default_dropout() -> None:
    from kproto.models import build_model

    model = build_model(Transformer(type="transformer", embed_dim=8), text_info(700))
    names = [layer.name for layer in model.layers]
    assert model.name == "transformer_bag"
    assert not any(name.startswith("encoder_") for name in names)
    assert model.get_layer("token_dropout").rate == 0.3
    quiet = build_model(Transformer(type="transformer", embed_dim=8, dropout=0.0), text_info(700))
    assert "token_dropout" not in [layer.name for layer in quiet.layers]  # the recipe's dropout is kept
    blocks = build_model(Transformer(type="transformer", embed_dim=8, encoder="attention"), text_info(700))
    assert blocks.name == "transformer" and blocks.get_layer("encoder_0") is not None


def test_word_presence_counts_each_distinct_token_once_and_skips_padding() -> None:
    import keras
    import numpy as np

    from kproto.models.layers import WordPresence

    layer = WordPresence(10, 2, scale=1.0)
    ids = np.array([[3, 3, 5, 0, 0], [4, 1, 2, 4, 3], [0, 0, 0, 0, 0]])
    layer.build(ids.shape)
    weights = np.arange(20, dtype="float32").reshape(10, 2)
    layer.kernel.assign(weights)
    got = keras.ops.convert_to_numpy(layer(ids))
    expected = [weights[[3, 5]].sum(0) / np.sqrt(2), weights[[1, 2, 3, 4]].sum(0) / 2, [0.0, 0.0]]
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    assert WordPresence.from_config(layer.get_config()).get_config() == layer.get_config()


def test_model_wide_adds_a_linear_part_on_word_presence_to_the_bag() -> None:
    from kproto.models import build_model

    model = build_model(Transformer(type="transformer", embed_dim=8, wide=True), text_info(700))
    names = [layer.name for layer in model.layers]
    assert {"word_presence", "deep_logits", "wide_and_deep", "output"} <= set(names)
    assert model.get_layer("word_presence").kernel.shape == (30, 2)
    assert model.output.shape[-1] == 2
    plain = build_model(Transformer(type="transformer", embed_dim=8, wide=False), text_info(700))
    assert "word_presence" not in [layer.name for layer in plain.layers]
    info = DataInfo(task="regression", kind="text", input_shape=(12,), vocab_size=30)
    info.rows = {"train": 700}
    info.target_mean, info.target_std = 3.0, 2.0
    regression = build_model(Transformer(type="transformer", embed_dim=8, wide=True), info)
    assert regression.get_layer("word_presence").units == 1 and regression.get_layer("output_raw") is not None
    line = Transformer(type="transformer", wide=True).chosen(text_info(700))["encoder"]
    assert "linear model on word presence" in line
    assert "linear" not in Transformer(type="transformer", wide=False).chosen(text_info(700))["encoder"]
    pairs = Transformer(type="transformer", embed_dim=8, wide=True, wide_pairs=True)
    assert build_model(pairs, text_info(700)).get_layer("word_presence").kernel.shape == (30 + 60, 2)
    assert "word and word-pair presence" in pairs.chosen(text_info(700))["encoder"]


def test_model_wide_l2_sets_the_linear_part_penalty() -> None:
    from kproto.models import build_model

    def penalty(**fields: object) -> float:
        spec = Transformer(type="transformer", embed_dim=8, wide=True, **fields)
        return build_model(spec, text_info(700)).get_layer("word_presence").l2

    assert penalty() == 1e-4
    assert penalty(wide_l2=0.01) == 0.01
    assert penalty(wide_l2=0) == 0.0


@pytest.mark.parametrize("value", ["-0.5", "lots"])
def test_a_bad_wide_l2_names_the_field(tmp_path: Path, value: str) -> None:
    from kproto.core.errors import RecipeError
    from kproto.recipe.loader import load_recipe

    (tmp_path / "d.csv").write_text("review,label\ngood food,good\nbad food,bad\n")
    (tmp_path / "recipe.yaml").write_text(
        "data: {path: d.csv, target: label, text: review}\nmodel: {type: transformer, wide: true}\n"
    )
    with pytest.raises(RecipeError) as caught:
        load_recipe(tmp_path / "recipe.yaml", [f"model.wide_l2={value}"])
    assert caught.value.field == "model.wide_l2" and value in str(caught.value)


def train_tiny_reviews(runner, tmp_path: Path, model_fields: str) -> tuple:
    """Train a 2-epoch text run on 80 tiny reviews with `model_fields` added to the transformer's model section."""
    import pandas as pd

    from kproto.cli import cli

    words = ["great tasty lovely fresh!", "awful stale broken bland..."]
    rows = [{"review": f"{words[i % 2]} box {i}", "label": ["good", "bad"][i % 2]} for i in range(80)]
    pd.DataFrame(rows).to_csv(tmp_path / "reviews.csv", index=False)
    (tmp_path / "recipe.yaml").write_text(
        "seed: 3\ndata: {path: reviews.csv, target: label, text: review}\n"
        f"model: {{type: transformer, {model_fields}}}\ntrain: {{epochs: 2, batch_size: 16}}\n"
    )
    args = ["train", str(tmp_path / "recipe.yaml"), "--backend", "tensorflow", "--out", str(tmp_path / "runs")]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    (run,) = (tmp_path / "runs").glob("*/*/")
    return result, run


@pytest.mark.slow
def test_the_wide_bag_keeps_evaluate_predict_explain_export_and_serve_working(runner, tmp_path: Path) -> None:
    import json

    import numpy as np
    import pandas as pd
    from fastapi.testclient import TestClient

    from kproto.cli import cli
    from kproto.runs.layout import MODEL
    from kproto.runs.load import load_keras_model
    from kproto.serve.app import create_app
    from kproto.serve.predictor import load_predictor

    result, run = train_tiny_reviews(runner, tmp_path, "embed_dim: 8, wide: true, wide_l2: 0.01")
    assert "linear model on word presence" in result.output
    assert load_keras_model(run / MODEL, compile=False).get_layer("word_presence").l2 == 0.01  # saved with the run
    new = pd.DataFrame({"review": ["great fresh lovely!", "stale bland awful..."]})
    new.to_csv(tmp_path / "new.csv", index=False)
    evaluated = runner.invoke(cli, ["evaluate", str(run), "--json"])
    assert evaluated.exit_code == 0, evaluated.output
    predicted = runner.invoke(cli, ["predict", str(run), "--data", str(tmp_path / "new.csv")])
    assert predicted.exit_code == 0, predicted.output
    frame = pd.read_csv(pd.io.common.StringIO(predicted.stdout))
    assert len(frame) == 2
    explained = runner.invoke(cli, ["explain", str(run), "--rows", "2"])
    assert explained.exit_code == 0, explained.output
    exported = runner.invoke(cli, ["export", str(run), "--format", "savedmodel"])
    assert exported.exit_code == 0, exported.output
    with TestClient(create_app(load_predictor(run))) as client:
        answer = client.post("/predict", json={"rows": new.to_dict("records")})
        assert answer.status_code == 200, answer.text
        served = answer.json()
    assert json.dumps(served).count("good") + json.dumps(served).count("bad") >= 2
    assert np.isfinite(json.loads((run / "metrics.json").read_text())["test"]["accuracy"])


@pytest.mark.slow
def test_a_small_text_run_trains_the_bag_and_prints_it(runner, tmp_path: Path) -> None:
    import json

    result, run = train_tiny_reviews(runner, tmp_path, "embed_dim: 8")
    assert "bag of embeddings" in result.output
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["status"] == "completed" and metrics["epochs"] == 2
    text = json.loads((run / "preprocess.json").read_text())["state"]["text"]
    assert text["standardize"] == "keep_punctuation" and {"!", "."} <= set(text["vocabulary"])  # the default rule


def test_word_presence_with_pairs_adds_each_distinct_neighbouring_pair_once() -> None:
    import keras
    import numpy as np

    from kproto.models.layers import PAIR_PRIME, WordPresence

    layer = WordPresence(10, 1, scale=1.0, pair_buckets=7)
    ids = np.array([[3, 4, 3, 4, 0]])  # tokens 3, 4; pairs (3, 4) twice and (4, 3); none with padding
    layer.build(ids.shape)
    weights = np.arange(17, dtype="float32").reshape(17, 1)
    layer.kernel.assign(weights)
    rows = [3, 4, 10 + (3 * PAIR_PRIME + 4) % 7, 10 + (4 * PAIR_PRIME + 3) % 7]
    got = keras.ops.convert_to_numpy(layer(ids))
    np.testing.assert_allclose(got, [weights[rows].sum(0) / np.sqrt(len(set(rows)))], rtol=1e-6)
