"""kproto.models.tabular_layers: output shapes and values on tiny inputs, configs that round-trip, and feedforward
models with table embeddings and an ensemble that reload in safe mode (no fitting)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kproto.data.types import DataInfo
from kproto.recipe.schema import MODEL_CLASSES


def test_bin_edges_read_quantiles_and_drop_repeats() -> None:
    from kproto.models.tabular_layers import bin_edges

    grid = list(np.linspace(-2.0, 2.0, 65))
    assert bin_edges(grid, 4) == pytest.approx([-2.0, -1.0, 0.0, 1.0, 2.0])
    assert bin_edges([0.0] * 40 + [1.0] * 25, 8) == [0.0, 1.0]  # a 0/1 column: one bin
    assert bin_edges([3.0] * 65, 8) == [2.5, 3.5]  # a constant column: one bin of width 1


def test_piecewise_linear_encoding_values() -> None:
    from kproto.models.tabular_layers import PiecewiseLinearEncoding

    layer = PiecewiseLinearEncoding([[0.0, 1.0, 2.0, 4.0], [0.0, 1.0]])
    x = np.array([[-1.0, 0.5], [1.5, 3.0], [5.0, -2.0]], np.float32)
    out = np.asarray(layer(x))
    assert out.shape == (3, 6)
    np.testing.assert_allclose(
        out,
        [
            [-1.0, 0.0, 0.0, 0.5, 0.0, 0.0],  # below the first edge: the first bin goes negative
            [1.0, 0.5, 0.0, 3.0, 0.0, 0.0],  # one-bin column: unclipped both ways
            [1.0, 1.0, 1.5, -2.0, 0.0, 0.0],  # above the last edge: the last bin goes past 1
        ],
        rtol=1e-6,
    )


@pytest.mark.parametrize(
    ("make", "width"),
    [
        (lambda m: m.PiecewiseLinearEncoding([[0.0, 1.0, 2.0]] * 3), 6),
        (lambda m: m.PeriodicEmbedding(frequencies=4, dim=5, sigma=0.1), 15),
        (lambda m: m.CategoryEmbedding([2, 4, 1], dim=3), 9),
        (lambda m: m.SelectColumns([2, 0]), 2),
    ],
)
def test_layers_shape_and_config_round_trip(make: Any, width: int) -> None:
    import keras

    from kproto.models import tabular_layers

    layer = make(tabular_layers)
    x = np.array([[0.0, 1.0, 2.0], [1.0, 0.0, 4.0]], np.float32)
    out = np.asarray(layer(x))
    assert out.shape == (2, width)
    assert np.all(np.isfinite(out))
    copy = keras.layers.deserialize(keras.layers.serialize(layer))
    assert type(copy) is type(layer)
    assert copy.get_config() == layer.get_config()


@pytest.mark.parametrize("indices", [[2, 3, 4], [0, 1, 2, 3, 4, 5], [5], [4, 1, 3], [1, 2, 4], [3, 2], []])
def test_select_columns_equals_fancy_indexing(indices: list[int]) -> None:
    """A run of columns is read as a slice and any other list with a gather: both are x[:, indices]."""
    from kproto.models.tabular_layers import SelectColumns

    x = np.random.default_rng(0).normal(size=(7, 6)).astype(np.float32)
    np.testing.assert_array_equal(np.asarray(SelectColumns(indices)(x)), x[:, indices])


def test_ensemble_fork_and_mean() -> None:
    from kproto.models.tabular_layers import EnsembleFork, EnsembleMean

    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    forked = np.asarray(EnsembleFork(4, seed=0)(x))
    assert forked.shape == (2, 4, 3)
    np.testing.assert_allclose(np.abs(forked), np.broadcast_to(x[:, None, :], (2, 4, 3)))
    assert len({tuple(np.sign(forked[1, k])) for k in range(4)}) > 1  # members start different
    np.testing.assert_allclose(np.asarray(EnsembleMean()(forked)), forked.mean(axis=1), rtol=1e-6)


def test_ensemble_scale_and_unscaled_mean() -> None:
    import keras

    from kproto.models.tabular_layers import EnsembleMean, EnsembleScale

    members = np.random.default_rng(0).normal(size=(2, 3, 4)).astype(np.float32)
    scale = EnsembleScale()
    np.testing.assert_allclose(np.asarray(scale(members)), members)  # ones at the start
    scale.scales.assign(np.arange(12, dtype=np.float32).reshape(3, 4))
    np.testing.assert_allclose(np.asarray(scale(members)), members * np.arange(12).reshape(1, 3, 4), rtol=1e-6)
    plain = EnsembleMean(scaled=False)
    np.testing.assert_allclose(np.asarray(plain(members)), members.mean(axis=1), rtol=1e-6)
    assert not plain.weights
    copy = keras.layers.deserialize(keras.layers.serialize(plain))
    assert copy.get_config()["scaled"] is False


def test_member_spread_adds_the_members_variance_in_training_only() -> None:
    import keras

    from kproto.models.tabular_layers import MemberSpread

    rng = np.random.default_rng(1)
    members = rng.normal(size=(5, 4, 1)).astype(np.float32)
    prediction = members.mean(axis=1)
    spread = MemberSpread(weight=9.0)
    np.testing.assert_allclose(np.asarray(spread([prediction, members], training=False)), prediction)
    assert not spread.losses
    np.testing.assert_allclose(np.asarray(spread([prediction, members], training=True)), prediction)
    assert len(spread.losses) == 1
    np.testing.assert_allclose(float(spread.losses[0]), 9.0 * members.var(axis=1).mean(), rtol=1e-5)
    # with the target's scale as weight: loss of the mean + spread = the mean of the members' own squared errors
    target = rng.normal(size=(5, 1)).astype(np.float32)
    own = ((3.0 * members - 3.0 * target[:, None, :]) ** 2).mean()
    mean = ((3.0 * prediction - 3.0 * target) ** 2).mean()
    np.testing.assert_allclose(mean + float(spread.losses[0]), own, rtol=1e-5)
    assert keras.layers.deserialize(keras.layers.serialize(spread)).weight == 9.0
    with pytest.raises(ValueError, match="weight >= 0"):
        MemberSpread(weight=-1.0)


def _regression_table(width: int = 3) -> DataInfo:
    grid = [list(np.linspace(-1.0, 1.0, 65))] * width
    return DataInfo(
        task="regression",
        kind="table",
        input_shape=(width,),
        target_mean=1.0,
        target_std=2.0,
        table={"numeric": list(range(width)), "quantiles": grid, "categorical": []},
    )


@pytest.mark.parametrize(("loss", "own"), [("members", True), ("mean", False), ("auto", False)])
def test_ensemble_loss_builds_member_heads_for_regression(loss: str, own: bool, tmp_path: Path) -> None:
    import keras

    from kproto.models import build_model
    from kproto.models.backbone_loader import without_output
    from kproto.runs.load import load_keras_model

    keras.utils.set_random_seed(0)
    spec = MODEL_CLASSES["feedforward"](type="feedforward", units=[8, 6], ensemble=3, ensemble_loss=loss)
    model = build_model(spec, _regression_table())
    names = {layer.name for layer in model.layers}
    assert {"ensemble_scale", "ensemble_spread"} <= names if own else not names & {"ensemble_scale", "ensemble_spread"}
    assert without_output(model).output.shape == (None, 6)  # the cut is the members' mean, not the members
    x = np.random.default_rng(2).normal(size=(4, 3)).astype(np.float32)
    predicted = model.predict(x, verbose=0)
    assert predicted.shape == (4, 1)
    if own:  # the prediction is the mean of the members' outputs, in the target's units
        each = keras.Model(model.inputs[0], model.get_layer("ensemble_scale").output)(x)
        members = np.asarray(model.get_layer("output_raw")(each)) * 2.0 + 1.0
        np.testing.assert_allclose(predicted, members.mean(axis=1), rtol=1e-5, atol=1e-5)
    model.save(tmp_path / "model.keras")
    np.testing.assert_allclose(load_keras_model(tmp_path / "model.keras").predict(x, verbose=0), predicted, rtol=1e-5)


def test_ensemble_loss_members_needs_a_regression_target() -> None:
    from kproto.core.errors import RecipeError
    from kproto.models import build_model

    info = DataInfo(task="classification", kind="table", input_shape=(3,), num_classes=2, table={})
    spec = MODEL_CLASSES["feedforward"](type="feedforward", units=[4], ensemble=2, ensemble_loss="members")
    with pytest.raises(RecipeError, match="regression target") as caught:
        build_model(spec, info)
    assert caught.value.field == "model.ensemble_loss"
    auto = MODEL_CLASSES["feedforward"](type="feedforward", units=[4], ensemble=2)
    assert "ensemble_spread" not in {layer.name for layer in build_model(auto, info).layers}


@pytest.mark.slow
def test_members_training_loss_is_the_mean_of_the_members_losses() -> None:
    """One training step's loss equals the mean of the members' own squared errors (computed by hand before the
    step), while evaluation reports the averaged prediction's squared error."""
    import keras

    from kproto.models import build_model

    keras.utils.set_random_seed(0)
    spec = MODEL_CLASSES["feedforward"](type="feedforward", units=[8], ensemble=3, ensemble_loss="members", dropout=0)
    model = build_model(spec, _regression_table())
    model.compile(optimizer="adam", loss="mse")
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(16, 3)).astype(np.float32), rng.normal(size=(16, 1)).astype(np.float32)
    each = keras.Model(model.inputs[0], model.get_layer("ensemble_scale").output)(x)
    members = np.asarray(model.get_layer("output_raw")(each)) * 2.0 + 1.0
    own = float(((members - y[:, None, :]) ** 2).mean())
    mean = float(((members.mean(axis=1) - y) ** 2).mean())
    assert own > mean
    assert model.evaluate(x, y, verbose=0) == pytest.approx(mean, rel=1e-4)
    assert float(model.train_on_batch(x, y)) == pytest.approx(own, rel=1e-4)


@pytest.mark.parametrize(
    ("ffn", "data"),
    [
        ({"numeric_embedding": "piecewise_linear", "bins": 4, "ensemble": 3}, "onehot"),
        ({"numeric_embedding": "periodic", "embedding_dim": 4, "ensemble": 1}, "index"),
        ({"numeric_embedding": "none", "ensemble": 2}, "index"),
    ],
)
def test_feedforward_with_table_embeddings_reloads_in_safe_mode(ffn: dict, data: str, tmp_path: Path) -> None:
    import keras

    from kproto.models import build_model
    from kproto.runs.load import load_keras_model

    grid = [list(np.linspace(-1.0, 1.0, 65)), [0.0] * 30 + [1.0] * 35]
    categorical = [[2, 3]] if data == "index" else []
    info = DataInfo(
        task="classification",
        kind="table",
        input_shape=(4,),
        num_classes=3,
        table={"numeric": [0, 1], "quantiles": grid, "categorical": categorical},
    )
    keras.utils.set_random_seed(0)
    spec = MODEL_CLASSES["feedforward"](type="feedforward", units=[8, 4], **ffn)
    model = build_model(spec, info)
    names = {layer.name for layer in model.layers}
    assert ("numeric_embedding" in names) == (ffn["numeric_embedding"] != "none")
    assert ("categorical_embedding" in names) == (data == "index")
    assert ("ensemble_mean" in names) == (ffn["ensemble"] > 1)
    x = np.array([[0.3, 1.0, 0.0, 2.0], [-2.0, 0.0, 1.0, 0.0], [5.0, 1.0, 1.0, 3.0]], np.float32)
    predicted = model.predict(x, verbose=0)
    assert predicted.shape == (3, 3)
    np.testing.assert_allclose(predicted.sum(axis=1), 1.0, rtol=1e-5)
    model.save(tmp_path / "model.keras")
    reloaded = load_keras_model(tmp_path / "model.keras")  # safe mode
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), predicted, rtol=1e-5, atol=1e-6)


def test_ensemble_and_embeddings_leave_other_inputs_alone() -> None:
    from kproto.models import build_model

    window = DataInfo(task="regression", kind="window", input_shape=(6, 2))
    model = build_model(MODEL_CLASSES["feedforward"](type="feedforward", units=[4], ensemble=4), window)
    names = {layer.name for layer in model.layers}
    assert not names & {"ensemble_fork", "ensemble_mean", "numeric_embedding"}
    assert "output_raw" in names  # the forecaster's wrapping finds the head


@pytest.mark.parametrize(
    ("ensemble", "train_rows", "members", "why"),
    [
        ("auto", 500, 4, "500 training rows, fewer than 6,000"),
        ("auto", 5_999, 4, "5,999 training rows, fewer than 6,000"),
        ("auto", 6_000, 1, "6,000 training rows, 6,000 or more; model.ensemble: k overrides"),
        (4, 40_000, 4, "set by model.ensemble"),
        (1, 500, 1, "set by model.ensemble"),
    ],
)
def test_ensemble_auto_follows_the_training_rows(ensemble: Any, train_rows: int, members: int, why: str) -> None:
    from kproto.models import build_model

    info = DataInfo(task="regression", kind="table", input_shape=(3,), rows={"train": train_rows}, table={})
    spec = MODEL_CLASSES["feedforward"](type="feedforward", units=[4], ensemble=ensemble)
    assert spec.members_for(info) == (members, why)
    assert spec.chosen(info) == {"ensemble": f"{members} member{'s' if members > 1 else ''} ({why})"}
    names = {layer.name for layer in build_model(spec, info).layers}
    assert ("ensemble_fork" in names) == (members > 1)
    if members > 1:
        fork = build_model(spec, info).get_layer("ensemble_fork")
        assert fork.members == members


@pytest.mark.slow
@pytest.mark.parametrize(
    ("embedding", "categorical"), [("piecewise_linear", "onehot"), ("periodic", "index"), ("none", "onehot")]
)
def test_feedforward_trains_with_table_embeddings_and_reloads(
    runner: Any, tmp_path: Path, embedding: str, categorical: str
) -> None:
    import json

    import pandas as pd
    from helpers import table, train_recipe

    from kproto.data.preprocess import Preprocessor
    from kproto.runs.load import load_keras_model

    frame = table(80)
    frame["colour"] = np.random.default_rng(1).choice(["red", "green", "blue"], size=len(frame))
    frame.to_csv(tmp_path / "data.csv", index=False)
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        f"data: {{path: data.csv, target: label, categorical: {categorical}}}\n"
        f"model: {{type: feedforward, units: [8], numeric_embedding: {embedding}, bins: 4, ensemble: 2}}\n"
        "train: {epochs: 1, batch_size: 16}\n"
    )
    run = train_recipe(runner, recipe, tmp_path / "runs", "recipe")
    model = load_keras_model(run / "model.keras")  # safe mode
    names = {layer.name for layer in model.layers}
    assert "ensemble_mean" in names
    assert ("numeric_embedding" in names) == (embedding != "none")
    assert ("categorical_embedding" in names) == (categorical == "index")
    state = json.loads((run / "preprocess.json").read_text())
    assert all("clip" in c for c in state["state"]["columns"] if c["type"] == "numeric")  # robust by default
    assert "table" not in state["info"]
    x = Preprocessor.from_dict(state["state"]).features(pd.read_csv(tmp_path / "data.csv"))
    probabilities = model.predict(x, verbose=0)
    assert probabilities.shape == (len(frame), 2) and np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
