"""Model families: every registry entry builds on tiny inputs, predicts, and round-trips through a safe-mode load;
sequential refuses unknown and code-running layers; text and window runs end to end without leaking test data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from kproto.core.errors import RecipeError
from kproto.data.dataset import DataInfo
from kproto.recipe.schema import MODEL_CLASSES

TABULAR = DataInfo(task="classification", kind="table", input_shape=(5,), num_classes=3)
IMAGE = DataInfo(task="classification", kind="image", input_shape=(8, 8, 1), num_classes=4)
TEXT = DataInfo(task="classification", kind="text", input_shape=(12,), num_classes=2, vocab_size=30)
WINDOW = DataInfo(task="regression", kind="window", input_shape=(6, 2), target_mean=50.0, target_std=10.0)

CASES = [
    ("feedforward", {"units": [8]}, TABULAR),
    # 4 blocks on 8x8: pooling stops at 1x1
    ("cnn", {"filters": [4, 8, 8, 8], "convs_per_block": 1, "dense": [8]}, IMAGE),
    (
        "cnn",
        {"filters": [4], "head": "flatten", "pooling": "average", "batch_norm": False, "spatial_dropout": 0.1},
        IMAGE,
    ),
    ("rnn", {"units": [4]}, WINDOW),
    ("rnn", {"units": [4]}, TABULAR),
    ("gru", {"units": [4, 4], "bidirectional": True, "dense": [4], "dropout": 0.1}, TEXT),
    ("gru", {"units": [4]}, WINDOW),
    ("lstm", {"units": [4], "embedding_dim": 8}, TEXT),
    ("lstm", {"units": [4, 4], "recurrent_dropout": 0.1}, WINDOW),
    ("lstm", {"units": [4]}, IMAGE),
    ("transformer", {"layers": 1, "heads": 2, "key_dim": 4, "embed_dim": 8, "ff_units": 8}, TEXT),
    ("transformer", {"layers": 1, "heads": 1, "key_dim": 4, "embed_dim": 8, "ff_units": 8, "pooling": "cls"}, TEXT),
    ("transformer", {"layers": 2, "heads": 2, "key_dim": 4, "embed_dim": 8, "ff_units": 8, "pooling": "max"}, WINDOW),
    ("transformer", {"layers": 1, "heads": 1, "key_dim": 4, "embed_dim": 8, "ff_units": 8}, TABULAR),
    ("sequential", {"layers": [{"Conv1D": {"filters": 4, "kernel_size": 3}}, {"GlobalMaxPooling1D": {}}]}, TEXT),
    (
        "sequential",
        {"layers": [{"Conv1D": {"filters": 4, "kernel_size": 3}}, {"Flatten": None}, {"Dense": {"units": 1}}]},
        WINDOW,
    ),
    (
        "sequential",
        {"layers": [{"Conv2D": {"filters": 4, "kernel_size": 3}}, {"Flatten": {}}, {"Dense": {"units": 4}}]},
        IMAGE,
    ),
    ("sequential", {"layers": [{"Bidirectional": {"layer": {"LSTM": {"units": 4}}}}]}, WINDOW),
    ("sequential", {"layers": [{"Dense": {"units": 8}}, {"Dropout": {"rate": 0.1}}]}, TABULAR),
]


def spec_of(family: str, **fields: Any) -> Any:
    return MODEL_CLASSES[family](type=family, **fields)


def sample(info: DataInfo, rows: int = 3) -> np.ndarray:
    rng = np.random.default_rng(0)
    if info.kind == "text":
        tokens = rng.integers(1, info.vocab_size, size=(rows, *info.input_shape)).astype(np.int32)
        tokens[:, info.input_shape[0] // 2 :] = 0  # padding
        return tokens
    return rng.random((rows, *info.input_shape), dtype=np.float32)


@pytest.mark.parametrize(("family", "fields", "info"), CASES, ids=lambda v: v if isinstance(v, str) else None)
def test_family_builds_predicts_and_reloads(
    family: str, fields: dict[str, Any], info: DataInfo, tmp_path: Path
) -> None:
    import keras

    from kproto.core.catalog import FAMILIES
    from kproto.models import build_model
    from kproto.runs.load import load_keras_model

    assert family in FAMILIES
    keras.utils.set_random_seed(0)
    model = build_model(spec_of(family, **fields), info)
    x = sample(info)
    predicted = model.predict(x, verbose=0)
    width = info.num_classes if info.task == "classification" else 1
    assert predicted.shape == (len(x), width)
    assert np.all(np.isfinite(predicted))
    if info.task == "classification":
        np.testing.assert_allclose(predicted.sum(axis=1), 1.0, rtol=1e-5)
    model.save(tmp_path / "model.keras")
    reloaded = load_keras_model(tmp_path / "model.keras")  # safe mode
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), predicted, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("mode", ["mean", "max"])
def test_transformer_block_and_pooling_ignore_padding(mode: str) -> None:
    """Whatever sits at masked (padded) positions must not change the pooled output."""
    import keras

    from kproto.models.layers import SequencePooling, TransformerEncoder

    keras.utils.set_random_seed(0)
    block, pool = TransformerEncoder(heads=2, key_dim=4, ff_units=8), SequencePooling(mode)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 6, 8)).astype(np.float32)
    mask = np.array([[True] * 4 + [False] * 2, [True] * 2 + [False] * 4])
    noisy = x.copy()
    noisy[~mask] = rng.normal(size=(int((~mask).sum()), 8)) * 100
    run = lambda v: keras.ops.convert_to_numpy(pool(block(v, mask=mask), mask=mask))  # noqa: E731
    np.testing.assert_allclose(run(x), run(noisy), rtol=1e-5, atol=1e-5)
    assert not np.allclose(run(x), run(np.where(mask[:, :, None], noisy * 0 + 1, x)))


def test_cnn_refuses_tabular_input() -> None:
    from kproto.models import build_model

    with pytest.raises(RecipeError) as err:
        build_model(spec_of("cnn"), TABULAR)
    assert err.value.field == "data.shape"
    assert "feedforward" in (err.value.hint or "")


@pytest.mark.parametrize("family", ["cnn", "lstm", "transformer", "sequential"])
def test_unknown_activation_is_a_recipe_error(family: str) -> None:
    from kproto.models import build_model

    fields: dict[str, Any] = {"activation": "relux"}
    if family == "sequential":
        fields["layers"] = [{"Dense": {"units": 4}}]
    info = {"cnn": IMAGE, "lstm": WINDOW, "transformer": TEXT, "sequential": TABULAR}[family]
    with pytest.raises(RecipeError) as err:
        build_model(spec_of(family, **fields), info)
    assert err.value.field == "model.activation"


@pytest.mark.parametrize(
    ("layers", "field", "words"),
    [
        ([{"Dense": {"units": 4}}, {"Lambda": {"function": "x"}}], "model.layers[1]", ["not allowed", "code"]),
        (
            [{"Dense": {"units": 4}}, {"Dropuot": {"rate": 0.1}}],
            "model.layers[1]",
            ["unknown layer 'Dropuot'", "Did you mean 'Dropout'"],
        ),
        ([{"Desne": {"units": 4}}], "model.layers[0]", ["Did you mean 'Dense'"]),
        ([{"Dense": {"unit": 4}}], "model.layers[0]", ["bad options for Dense", "unit"]),
        ([{"Dense": {"units": 4, "activation": "nope"}}], "model.layers[0]", ["bad options for Dense"]),
        ([{"Conv2D": {"filters": 4, "kernel_size": 3}}], "model.layers[0]", ["Conv2D cannot take"]),
    ],
)
def test_sequential_refuses_bad_layers(layers: list[dict[str, Any]], field: str, words: list[str]) -> None:
    from kproto.models import build_model

    with pytest.raises(RecipeError) as err:
        build_model(spec_of("sequential", layers=layers), TABULAR)
    assert err.value.field == field
    for word in words:
        assert word in str(err.value)


def test_sequential_refuses_an_unpooled_output() -> None:
    from kproto.models import build_model

    with pytest.raises(RecipeError, match="Flatten"):
        build_model(spec_of("sequential", layers=[{"Conv1D": {"filters": 4, "kernel_size": 3}}]), WINDOW)


def test_sequential_output_layer_comes_from_the_task_unless_given() -> None:
    import keras

    from kproto.models import build_model

    own = build_model(spec_of("sequential", layers=[{"Dense": {"units": 8}}, {"Dense": {"units": 3}}]), TABULAR)
    added = build_model(spec_of("sequential", layers=[{"Dense": {"units": 8}}, {"Dense": {"units": 5}}]), TABULAR)
    dense = lambda m: [layer for layer in m.layers if isinstance(layer, keras.layers.Dense)]  # noqa: E731
    assert [d.units for d in dense(own)] == [8, 3] and dense(own)[-1].activation is keras.activations.softmax
    assert [d.units for d in dense(added)] == [8, 5, 3]
    assert dense(added)[0].activation is keras.activations.relu  # model.activation fills in Dense's missing activation


# ----------------------------------------------------------------------------- end to end and leakage
ONLY_IN_TEST = "zyzzyva"


@pytest.fixture(scope="module")
def text_recipe(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    """An LSTM recipe on generated reviews where one word appears only in test rows (its path, and the rows)."""
    from kproto.data.splits import split_indices

    folder = tmp_path_factory.mktemp("text")
    rng = np.random.default_rng(3)
    good, bad, filler = ["great", "lovely", "tasty"], ["awful", "stale", "broken"], ["the", "box", "it", "was", "and"]
    rows = []
    for i in range(160):
        label = "pos" if i % 2 else "neg"
        words = list(rng.choice(filler, 8)) + list(rng.choice(good if label == "pos" else bad, 2))
        rows.append({"review": " ".join(rng.permutation(words)), "label": label})
    frame = pd.DataFrame(rows)
    _, _, test_rows = split_indices(len(frame), 0.2, 0.2, 7, frame["label"].astype(str).to_numpy())
    frame.loc[test_rows, "review"] += f" {ONLY_IN_TEST}"
    frame.to_csv(folder / "reviews.csv", index=False)
    (folder / "recipe.yaml").write_text(
        "seed: 7\n"
        "data: {path: reviews.csv, target: label, text: review, sequence_length: 16,\n"
        "       split: {validation: 0.2, test: 0.2}}\n"
        "model: {type: lstm, units: [8], embedding_dim: 8}\n"
        "train: {epochs: 2, batch_size: 16, optimizer: {name: adam, learning_rate: 0.01}}\n"
    )
    return folder / "recipe.yaml", frame


@pytest.fixture(scope="module")
def text_run(text_recipe: tuple[Path, pd.DataFrame]) -> tuple[Path, pd.DataFrame]:
    """A 2-epoch LSTM run of text_recipe."""
    from click.testing import CliRunner

    from kproto.cli import cli

    recipe, frame = text_recipe
    args = ["train", str(recipe), "--backend", "tensorflow", "--out", str(recipe.parent / "runs")]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    (run,) = (recipe.parent / "runs").glob("*/*/")
    return run, frame


@pytest.mark.slow
def test_text_run_end_to_end(text_run: tuple[Path, pd.DataFrame]) -> None:
    run, _ = text_run
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["status"] == "completed" and metrics["epochs"] == 2
    assert 0.0 <= metrics["test"]["accuracy"] <= 1.0
    assert {"majority", "tfidf_linear"} <= set(metrics["baselines"])  # TF-IDF + logistic regression on the tokens
    assert metrics["verdict"]["metric"] == "accuracy"
    assert 0.0 <= metrics["report"]["macro_f1"] <= 1.0


def test_text_vocabulary_comes_from_training_rows_only(text_recipe: tuple[Path, pd.DataFrame]) -> None:
    from kproto.data import load_dataset
    from kproto.recipe import load_recipe

    recipe, frame = text_recipe
    vocabulary = load_dataset(load_recipe(recipe).recipe).preprocessor.to_dict()["text"]["vocabulary"]
    assert ONLY_IN_TEST in " ".join(frame["review"])  # the word is in the file …
    assert ONLY_IN_TEST not in vocabulary  # … but not in what the tokenizer learned
    assert {"great", "awful", "box"} <= set(vocabulary)


@pytest.mark.slow
def test_a_text_run_saves_the_training_vocabulary(text_run: tuple[Path, pd.DataFrame]) -> None:
    run, _ = text_run
    vocabulary = json.loads((run / "preprocess.json").read_text())["state"]["text"]["vocabulary"]
    assert ONLY_IN_TEST not in vocabulary
    assert {"great", "awful", "box"} <= set(vocabulary)


def _series(path: Path, n: int = 120) -> pd.DataFrame:
    """A trending, seasonal series: training-part statistics differ clearly from whole-series ones."""
    t = np.arange(n, dtype=float)
    frame = pd.DataFrame({"t": t, "value": 10.0 + 0.5 * t + 3.0 * np.sin(t / 3.0)})
    frame.to_csv(path, index=False)
    return frame


def test_windows_keep_time_order_and_scale_with_training_statistics(tmp_path: Path) -> None:
    from kproto.data import load_dataset
    from kproto.recipe import recipe_from_dict

    frame = _series(tmp_path / "series.csv")
    recipe = recipe_from_dict(
        {
            "data": {
                "path": str(tmp_path / "series.csv"),
                "target": "value",
                "window": {"length": 5},
                "split": {"validation": 0.2, "test": 0.2},
            },
            "model": {"type": "gru"},
        }
    )
    dataset = load_dataset(recipe)
    values = frame["value"].to_numpy()
    train_end, val_end = 72, 96  # 120 rows: 60% / 20% / 20%, in time order
    (column,) = dataset.preprocessor.state["columns"]
    assert column["mean"] == pytest.approx(values[:train_end].mean())
    assert column["std"] == pytest.approx(values[:train_end].std())
    scaled = (values - column["mean"]) / column["std"]
    # consecutive windows advance by one step; the first test window forecasts the first test row from the 5
    # rows before it (inputs may reach back into validation, targets never)
    np.testing.assert_allclose(dataset.x_train[1:, :-1, 0], dataset.x_train[:-1, 1:, 0], rtol=1e-5)
    np.testing.assert_allclose(dataset.x_test[0, :, 0], scaled[val_end - 5 : val_end], rtol=1e-5)
    np.testing.assert_allclose(dataset.y_test[:, 0], values[val_end:], rtol=1e-5)
    np.testing.assert_allclose(dataset.y_train[:, 0], values[5:train_end], rtol=1e-5)  # no target from later parts
    assert set(dataset.baselines) >= {"last_value", "linear_ar"}


@pytest.mark.slow
def test_window_run_end_to_end(tmp_path: Path, runner: Any) -> None:
    from kproto.cli import cli

    _series(tmp_path / "series.csv")
    (tmp_path / "recipe.yaml").write_text(
        "data: {path: series.csv, target: value, window: {length: 6}}\n"
        "model: {type: transformer, layers: 1, heads: 2, key_dim: 4, embed_dim: 8, ff_units: 8}\n"
        "train: {epochs: 2, batch_size: 16}\n"
    )
    args = ["train", str(tmp_path / "recipe.yaml"), "--backend", "tensorflow", "--out", str(tmp_path / "runs")]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    (run,) = (tmp_path / "runs").glob("*/*/")
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["status"] == "completed" and metrics["epochs"] == 2
    assert np.isfinite(metrics["test"]["mae"])
    assert metrics["baselines"]["last_value"]["mae"] > 0
    assert metrics["forecast"]["windows"] > 0 and len(metrics["forecast"]["per_step"]) == 1  # horizon 1
    assert metrics["verdict"]["metric"] == "mae" and metrics["verdict"]["split"] == "test"


@pytest.mark.parametrize(
    ("family", "info", "field", "hint"),
    [
        ("cnn", TABULAR, "data.shape", "data.shape"),
        ("cnn", TEXT, "data.shape", "feedforward"),
        ("feedforward", TEXT, "model.type", "for text input use model.type: rnn, gru, lstm, transformer"),
        ("autoencoder", WINDOW, "model.type", "for window input use model.type:"),
    ],
)
def test_the_family_must_take_the_data_input_kind(family: str, info: DataInfo, field: str, hint: str) -> None:
    from kproto.models import build_model

    with pytest.raises(RecipeError, match=f"a {family} model takes .* input; this data gives {info.kind} input") as err:
        build_model(spec_of(family), info)
    assert err.value.field == field and hint in (err.value.hint or "")
