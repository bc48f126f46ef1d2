"""Explanations: feature groups, integrated gradients, occlusion, permutation importance, rendering, sanity checks.

The three sanity checks (Sundararajan et al. 2017; Adebayo et al. 2018): the one column that decides the label ranks
first; integrated gradients are complete within 5 % at the default steps; a trained model's attributions differ
clearly from those of the same architecture with re-initialised weights.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kproto.core.errors import KprotoError
from kproto.explain.attributions import (
    DEFAULT_STEPS,
    FeatureGroup,
    completeness_gap,
    feature_groups,
    integrated_gradients,
    occlusion,
    quadrature,
    reconstruction_errors,
    sum_onto_columns,
    token_occlusion,
)
from kproto.explain.explainer import Explanation, check_method
from kproto.explain.importance import attribution_ranking, permutation_importance, score


def mlp(inputs: int, outputs: int = 3, seed: int = 0, activation: str | None = "softmax"):
    import keras

    keras.utils.set_random_seed(seed)
    x = keras.Input((inputs,))
    hidden = keras.layers.Dense(16, activation="relu")(x)
    hidden = keras.layers.Dense(8, activation="tanh")(hidden)
    return keras.Model(x, keras.layers.Dense(outputs, activation=activation)(hidden))


def cnn(seed: int = 0):
    import keras

    keras.utils.set_random_seed(seed)
    x = keras.Input((8, 8, 1))
    hidden = keras.layers.Conv2D(8, 3, activation="relu", padding="same")(x)
    hidden = keras.layers.MaxPooling2D()(hidden)
    hidden = keras.layers.Flatten()(hidden)
    return keras.Model(x, keras.layers.Dense(4, activation="softmax")(hidden))


PREPROCESS = {
    "categorical": "onehot",
    "columns": [
        {"name": "age", "type": "numeric", "fill": 0.0, "mean": 0.0, "std": 1.0},
        {"name": "colour", "type": "categorical", "fill": "red", "values": ["red", "green", "blue"]},
        {"name": "income", "type": "numeric", "fill": 0.0, "mean": 0.0, "std": 1.0},
    ],
}


def test_feature_groups_follow_the_preprocessor() -> None:
    assert feature_groups(PREPROCESS) == [
        FeatureGroup("age", 0, 1),
        FeatureGroup("colour", 1, 4),
        FeatureGroup("income", 4, 5),
    ]
    assert feature_groups({**PREPROCESS, "categorical": "index"})[1] == FeatureGroup("colour", 1, 2)


def test_one_hot_units_sum_into_one_column() -> None:
    attributions = np.array([[1.0, 0.5, 0.25, 0.25, -2.0]])
    np.testing.assert_allclose(sum_onto_columns(attributions, feature_groups(PREPROCESS)), [[1.0, 1.0, -2.0]])


def test_quadrature_weights_sum_to_one_on_the_unit_interval() -> None:
    points, weights = quadrature(DEFAULT_STEPS)
    assert weights.sum() == pytest.approx(1.0)
    assert 0 < points.min() < points.max() < 1


@pytest.mark.parametrize("build", [lambda: mlp(5), cnn])
def test_integrated_gradients_are_complete_at_the_default_steps(build) -> None:
    """Sanity check: a row's attributions sum to f(x) - f(baseline) within 5 %."""
    model = build()
    shape = model.input_shape[1:]
    x = np.random.default_rng(0).uniform(0, 2, size=(6, *shape)).astype(np.float32)
    target = np.array([0, 1, 2, 0, 1, 2])
    attributions = integrated_gradients(model, x, target)
    assert attributions.shape == x.shape
    assert completeness_gap(model, x, attributions, target) < 0.05


def test_integrated_gradients_memory_is_bounded_by_the_batch() -> None:
    """Splitting the (rows × steps) interpolations into small gradient calls gives the same answer."""
    model = mlp(5)
    x = np.random.default_rng(1).normal(size=(3, 5)).astype(np.float32)
    whole = integrated_gradients(model, x, 1, steps=16, batch=4096)
    pieces = integrated_gradients(model, x, 1, steps=16, batch=5)
    np.testing.assert_allclose(whole, pieces, rtol=1e-5, atol=1e-7)


def test_integrated_gradients_of_a_linear_model_are_weight_times_input() -> None:
    import keras

    inputs = keras.Input((3,))
    layer = keras.layers.Dense(1)
    model = keras.Model(inputs, layer(inputs))
    layer.set_weights([np.array([[2.0], [-1.0], [0.0]], np.float32), np.array([5.0], np.float32)])
    x = np.array([[1.0, 2.0, 3.0]], np.float32)
    np.testing.assert_allclose(integrated_gradients(model, x, None, steps=4), [[2.0, -2.0, 0.0]], atol=1e-5)


def test_occlusion_finds_the_pixels_a_model_reads() -> None:
    import keras

    inputs = keras.Input((4, 4, 1))
    flat = keras.layers.Flatten()(inputs)
    layer = keras.layers.Dense(2)
    model = keras.Model(inputs, layer(flat))
    kernel = np.zeros((16, 2), np.float32)
    kernel[5, 0] = 3.0  # unit 0 reads pixel (1, 1) only
    layer.set_weights([kernel, np.zeros(2, np.float32)])
    heat = occlusion(model, np.ones((1, 4, 4, 1), np.float32), 0, patch=1)
    assert heat.shape == (1, 4, 4)
    assert heat[0, 1, 1] == pytest.approx(3.0)
    assert np.count_nonzero(heat) == 1


def test_token_occlusion_scores_the_token_that_matters() -> None:
    import keras

    inputs = keras.Input((5,), dtype="int32")
    embedded = keras.layers.Embedding(10, 1)(inputs)
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(embedded)))
    embedding, dense = model.layers[1], model.layers[-1]
    table = np.zeros((10, 1), np.float32)
    table[7] = 1.0  # only token 7 carries a value
    embedding.set_weights([table])
    dense.set_weights([np.ones((5, 2), np.float32), np.zeros(2, np.float32)])
    tokens = np.array([[3, 7, 4, 0, 0]])
    scores = token_occlusion(model, tokens, 0)
    np.testing.assert_allclose(scores, [[0.0, 1.0, 0.0, 0.0, 0.0]], atol=1e-6)


def test_permutation_importance_ranks_the_deciding_column_first() -> None:
    """Sanity check on a model that reads one column only: it ranks first, the others have no importance."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=300), "b": rng.normal(size=300), "c": rng.choice(list("xyz"), 300)})
    y = (frame["a"] > 0).to_numpy().astype(int)

    def predict(rows: pd.DataFrame) -> np.ndarray:
        positive = (rows["a"].to_numpy() > 0).astype(float)
        return np.stack([1 - positive, positive], axis=1)

    ranking = permutation_importance(predict, frame, ["a", "b", "c"], y, "accuracy", repeats=3)
    assert ranking[0]["feature"] == "a"
    assert ranking[0]["importance"] > 0.3
    assert {r["feature"]: r["importance"] for r in ranking}["b"] == 0.0
    assert all(set(r) == {"feature", "importance", "spread"} for r in ranking)


@pytest.mark.parametrize(
    ("metric", "y", "outputs", "expected"),
    [
        ("accuracy", [0, 1, 1], [[0.9, 0.1], [0.2, 0.8], [0.7, 0.3]], 2 / 3),
        ("mae", [1.0, 2.0], [[1.5], [2.0]], 0.25),
        ("rmse", [0.0, 0.0], [[3.0], [4.0]], np.sqrt(12.5)),
        ("r2", [1.0, 2.0, 3.0], [[1.0], [2.0], [3.0]], 1.0),
        ("auc", [0, 1, 0, 1], [[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]], 1.0),
        ("f1", [0, 1], [[0.9, 0.1], [0.9, 0.1]], 0.0),  # the positive class (the second) is never predicted
        ("macro_f1", [0, 1], [[0.9, 0.1], [0.9, 0.1]], (2 / 3 + 0) / 2),
    ],
)
def test_score(metric: str, y, outputs, expected: float) -> None:
    assert score(metric, np.array(y), np.array(outputs)) == pytest.approx(expected)


def test_lower_is_better_metrics_count_a_rise_as_importance() -> None:
    from kproto.explain.importance import loss_words

    frame = pd.DataFrame({"a": np.linspace(-1, 1, 50), "b": np.zeros(50)})
    y = frame["a"].to_numpy()
    ranking = permutation_importance(lambda rows: rows[["a"]].to_numpy(), frame, ["a", "b"], y, "mae", repeats=2)
    assert ranking[0]["feature"] == "a" and ranking[0]["importance"] > 0
    assert loss_words("mae") == "rise of mae" and loss_words("rmse") == "rise of rmse"  # the words say it too
    assert loss_words("accuracy") == "drop of accuracy" and loss_words("r2") == "drop of r2"


def test_reconstruction_errors_put_the_worst_column_first() -> None:
    import keras

    inputs = keras.Input((3,))
    layer = keras.layers.Dense(3, use_bias=False)
    model = keras.Model(inputs, layer(inputs))
    layer.set_weights([np.diag([1.0, 0.0, 0.5]).astype(np.float32)])  # column b is lost, c halved
    table = reconstruction_errors(model, np.ones((4, 3), np.float32), ["a", "b", "c"])
    assert [row["feature"] for row in table] == ["b", "c", "a"]


@pytest.mark.parametrize(
    ("method", "kind", "task", "expected"),
    [
        ("auto", "table", "classification", "permutation"),
        ("integrated_gradients", "table", "regression", "integrated_gradients"),
        ("auto", "image", "classification", "integrated_gradients"),
        ("occlusion", "image", "classification", "occlusion"),
        ("auto", "text", "classification", "occlusion"),
        ("auto", "window", "regression", "integrated_gradients"),
        ("auto", "table", "reconstruction", "reconstruction_error"),
    ],
)
def test_method_choice(method: str, kind: str, task: str, expected: str) -> None:
    assert check_method(method, kind, task) == expected


@pytest.mark.parametrize(
    ("method", "kind", "task", "message"),
    [
        ("auto", "image", "generation", "GAN runs cannot be explained"),
        ("integrated_gradients", "text", "classification", "tokens are discrete"),
        ("permutation", "image", "classification", "does not apply"),
        ("shap", "table", "classification", "unknown method"),
        ("permutation", "table", "reconstruction", "reconstruction error"),
    ],
)
def test_method_refusals(method: str, kind: str, task: str, message: str) -> None:
    with pytest.raises(KprotoError, match=message):
        check_method(method, kind, task)


def test_render_tables_tokens_and_html() -> None:
    from rich.console import Console

    from kproto.explain import render

    ranking = attribution_ranking(["a", "b"], np.array([[0.1, -2.0], [0.3, 1.0]]))
    assert [row["feature"] for row in ranking] == ["b", "a"]
    console = Console(file=io.StringIO(), width=100, color_system=None)
    console.print(render.importance_table(ranking, "Importance"))
    console.print(render.coloured_tokens(["good", "film"], np.array([0.5, -0.1])))
    text = console.file.getvalue()
    assert "Importance" in text and "b" in text and "good film" in text
    page = render.tokens_html([{"tokens": ["<b>", "ok"], "scores": [0.2, -0.1], "predicted": "pos"}], "T")
    assert "&lt;b&gt;" in page and "<b>" not in page.replace("<body>", "")


def test_explanation_json_has_the_documented_keys() -> None:
    explanation = Explanation("permutation", "table", "classification", "test split", [{"feature": "a"}])
    data = explanation.to_json()
    assert data["method"] == "permutation" and data["global"] == [{"feature": "a"}]


# --------------------------------------------------------------------------- sanity checks on trained models
def deciding_column_data(rows: int = 600, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Only `signal` decides the label; `noise` and the string column `colour` carry nothing."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "noise": rng.normal(size=rows),
            "colour": rng.choice(["red", "green", "blue", "grey"], rows),
            "signal": rng.normal(size=rows),
        }
    )
    return frame, (frame["signal"] > 0).to_numpy().astype(np.int32)


def fitted(frame: pd.DataFrame, y: np.ndarray, seed: int = 0):
    from types import SimpleNamespace

    from kproto.data.preprocess import Preprocessor

    spec = SimpleNamespace(target=None)
    pre = Preprocessor.fit(frame, np.arange(len(frame)), spec, "classification", "table", list(frame.columns))
    pre.state["categorical"] = "onehot"
    x = pre.features(frame)
    model = mlp(x.shape[1], outputs=2, seed=seed)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=30, batch_size=32, verbose=0)
    return model, pre, x


@pytest.mark.slow
def test_the_deciding_column_ranks_first_after_training() -> None:
    frame, y = deciding_column_data()
    model, pre, x = fitted(frame, y)
    from kproto.robust.gradients import model_outputs

    columns = list(frame.columns)
    ranking = permutation_importance(
        lambda rows: model_outputs(model, pre.features(rows)), frame, columns, y, "accuracy", repeats=3
    )
    assert ranking[0]["feature"] == "signal"
    assert ranking[0]["importance"] > 5 * max(abs(r["importance"]) for r in ranking[1:])
    target = model_outputs(model, x[:40]).argmax(axis=1)
    per_column = sum_onto_columns(integrated_gradients(model, x[:40], target), feature_groups(pre.state))
    assert attribution_ranking(columns, per_column)[0]["feature"] == "signal"


@pytest.mark.slow
def test_trained_attributions_differ_from_reinitialised_ones() -> None:
    """Adebayo et al.'s model randomisation test: same architecture, fresh weights, clearly other attributions."""
    import keras

    frame, y = deciding_column_data()
    model, pre, x = fitted(frame, y)
    fresh = keras.models.clone_model(model)  # the same architecture, weights drawn again
    fresh.build(model.input_shape)
    rows = x[:40]
    trained = integrated_gradients(model, rows, 1)
    random = integrated_gradients(fresh, rows, 1)
    correlation = np.corrcoef(trained.reshape(-1), random.reshape(-1))[0, 1]
    assert correlation < 0.5
    assert np.abs(trained - random).sum() > 0.5 * np.abs(trained).sum()
    assert completeness_gap(model, rows, trained, 1) < 0.05


# --------------------------------------------------------------------------- the command
def tabular_recipe(folder, data) -> object:
    from conftest import write_recipe

    text = f"name: t\nseed: 3\ndata: {{path: {data}, target: label}}\nmodel: {{type: feedforward, units: [8]}}\n"
    return write_recipe(folder, text)


@pytest.fixture(scope="module")
def tabular_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained feedforward run on the tiny classification table, shared by the tabular command tests."""
    from conftest import write_tiny_classification
    from helpers import untrained_run

    folder = tmp_path_factory.mktemp("tabular")
    return untrained_run(tabular_recipe(folder, write_tiny_classification(folder)), folder / "runs")


def test_explain_command_on_a_tabular_run(runner, tmp_path, tabular_run) -> None:
    """Global importance on the original columns (the one-hot `color` is one feature) and the files of explain/."""
    import json

    from kproto.cli import cli

    run = tabular_run
    result = runner.invoke(cli, ["explain", str(run), "--json", "--rows", "3", "--steps", "8"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["method"] == "permutation"
    assert sorted(row["feature"] for row in data["global"]) == ["color", "x1", "x2"]
    assert all(set(row) >= {"feature", "importance", "spread"} for row in data["global"])
    importances = [row["importance"] for row in data["global"]]
    assert importances == sorted(importances, reverse=True)
    folder = run / "explain"
    assert (folder / "importance.csv").read_text().startswith("feature,importance,spread")
    saved = json.loads((folder / "attributions.json").read_text())
    assert len(saved["rows"]) == 3 and set(saved["rows"][0]["attributions"]) == {"x1", "x2", "color"}

    shown = runner.invoke(cli, ["explain", str(run), "--method", "integrated_gradients", "--out", str(tmp_path / "e")])
    assert shown.exit_code == 0, shown.output
    assert "Integrated gradients" in shown.output and (tmp_path / "e" / "importance.csv").exists()


def test_explain_command_on_an_image_run_writes_heat_maps(runner, tmp_path) -> None:
    from conftest import DATA, write_recipe
    from helpers import untrained_run

    from kproto.cli import cli

    text = (
        f"name: img\ndata: {{path: {DATA / 'digits.csv'}, target: label, shape: [8, 8, 1], limit: 200}}\n"
        "model: {type: cnn, filters: [4], dense: [8]}\n"
    )
    run = untrained_run(write_recipe(tmp_path, text), tmp_path / "runs")
    result = runner.invoke(cli, ["explain", str(run), "--rows", "4", "--steps", "8"])
    assert result.exit_code == 0, result.output
    assert (run / "explain" / "integrated_gradients.png").stat().st_size > 1000
    assert (run / "explain" / "occlusion.png").exists()


def test_explain_refuses_a_method_that_does_not_apply(runner, tabular_run) -> None:
    from helpers import assert_clean_error

    from kproto.cli import cli

    result = runner.invoke(cli, ["explain", str(tabular_run), "--method", "occlusion"])
    assert_clean_error(result, says="does not apply to table input", field="--method")


def test_score_uses_the_runs_threshold() -> None:
    from kproto.metrics.calibration import Calibration, Decisions

    y, outputs = [0, 1, 1], [[0.9, 0.1], [0.7, 0.3], [0.6, 0.4]]
    assert score("accuracy", y, outputs) == pytest.approx(1 / 3)  # argmax: every row is class 0
    decided = Decisions(Calibration("none"), threshold=0.25)
    assert score("accuracy", y, outputs, decided) == pytest.approx(1.0)  # p(class 1) ≥ 0.25: rows 2 and 3
