"""The transformer family's encoder choice: a bag of embeddings on few training texts unless the recipe pins the
blocks or the encoder; the choice is printed in the run header."""

from __future__ import annotations

from pathlib import Path

import numpy as np
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
    assert line.startswith("bag of embeddings and word pairs (700 training texts") and "model.encoder" in line
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


def test_word_pairs_hash_neighbours_into_the_table_and_mask_padding() -> None:
    import keras

    from kproto.models.layers import MAX_PAIR_BUCKETS, WordPairEmbedding, pair_buckets

    assert pair_buckets(30) == 60 and pair_buckets(20_000) == MAX_PAIR_BUCKETS and pair_buckets(0) == 2
    layer = WordPairEmbedding(pair_buckets(30), 4)
    tokens = np.array([[2, 3, 2, 3, 0, 0], [29, 28, 27, 26, 25, 24]], dtype="int32")
    vectors = keras.ops.convert_to_numpy(layer(tokens))
    keep = keras.ops.convert_to_numpy(layer.compute_mask(tokens))
    bucket, _ = layer._pairs(tokens)
    bucket = keras.ops.convert_to_numpy(bucket)
    assert vectors.shape == (2, 5, 4) and keep.tolist() == [[True, True, True, False, False], [True] * 5]
    assert (bucket[keep] >= 1).all() and (bucket[keep] < 60).all() and (bucket[~keep] == 0).all()
    np.testing.assert_array_equal(vectors[0, 0], vectors[0, 2])  # the same pair (2, 3), the same row
    assert not np.allclose(vectors[0, 0], vectors[0, 1])  # (2, 3) and (3, 2) differ
    assert not vectors[0, 3:].any()  # pairs with padding embed as zeros
    with pytest.raises(ValueError, match="buckets"):
        WordPairEmbedding(MAX_PAIR_BUCKETS + 1, 4)


def test_the_bag_pools_words_and_pairs_together_and_reloads_in_safe_mode(tmp_path: Path) -> None:
    import keras

    from kproto.models import build_model

    model = build_model(Transformer(type="transformer", embed_dim=8, dropout=0.0), text_info(700))
    assert model.get_layer("pair_embedding").buckets == 60
    tokens = np.array([[2, 3, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0], [5, 6, 7, 8, 9, 29, 1, 2, 3, 4, 5, 6]], dtype="int32")
    words = keras.ops.convert_to_numpy(model.get_layer("token_embedding")(tokens))
    pairs = keras.ops.convert_to_numpy(model.get_layer("pair_embedding")(tokens))
    pooled = keras.Model(model.inputs, model.get_layer("pooling").output)
    expected = (words[0, :3].sum(axis=0) + pairs[0, :2].sum(axis=0)) / 5  # 3 words and 2 pairs
    np.testing.assert_allclose(keras.ops.convert_to_numpy(pooled(tokens))[0], expected, rtol=1e-5, atol=1e-6)
    model.save(tmp_path / "bag.keras")
    again = keras.saving.load_model(tmp_path / "bag.keras", safe_mode=True)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(again(tokens)), keras.ops.convert_to_numpy(model(tokens)))


def test_word_pairs_can_be_turned_off_and_the_header_says_so() -> None:
    from kproto.models import build_model

    plain = build_model(Transformer(type="transformer", embed_dim=8, word_pairs=False), text_info(700))
    assert "pair_embedding" not in [layer.name for layer in plain.layers]
    assert "word pairs" in Transformer(type="transformer").chosen(text_info(700))["encoder"]
    assert "word pairs" not in Transformer(type="transformer", word_pairs=False).chosen(text_info(700))["encoder"]
    assert "word pairs" not in Transformer(type="transformer", layers=1).chosen(text_info(700))["encoder"]


@pytest.mark.slow
def test_a_small_text_run_trains_the_bag_and_prints_it(runner, tmp_path: Path) -> None:
    import json

    import pandas as pd

    from kproto.cli import cli

    words = ["great tasty lovely fresh!", "awful stale broken bland..."]
    rows = [{"review": f"{words[i % 2]} box {i}", "label": ["good", "bad"][i % 2]} for i in range(80)]
    pd.DataFrame(rows).to_csv(tmp_path / "reviews.csv", index=False)
    (tmp_path / "recipe.yaml").write_text(
        "seed: 3\ndata: {path: reviews.csv, target: label, text: review}\n"
        "model: {type: transformer, embed_dim: 8}\ntrain: {epochs: 2, batch_size: 16}\n"
    )
    args = ["train", str(tmp_path / "recipe.yaml"), "--backend", "tensorflow", "--out", str(tmp_path / "runs")]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "bag of embeddings" in result.output
    (run,) = (tmp_path / "runs").glob("*/*/")
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["status"] == "completed" and metrics["epochs"] == 2
    text = json.loads((run / "preprocess.json").read_text())["state"]["text"]
    assert text["standardize"] == "keep_punctuation" and {"!", "."} <= set(text["vocabulary"])  # the default rule
    assert "word pairs" in result.output
    for fmt, out in (("savedmodel", tmp_path / "saved"), ("onnx", tmp_path / "bag.onnx")):
        exported = runner.invoke(cli, ["export", str(run), "--format", fmt, "--out", str(out)])
        assert exported.exit_code == 0, exported.output  # the export checks itself against the Keras model
        assert "largest absolute difference" in exported.output and out.exists()
