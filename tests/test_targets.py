"""Several targets without training: the data's per-target arrays and views, the named heads, the compiled losses
and the answers' column names."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kproto.core import catalog
from kproto.core.errors import DataError, RecipeError
from kproto.recipe import load_recipe


def _recipe(tmp_path: Path, train: str = "", target: str = "[default, score]"):
    rng = np.random.default_rng(0)
    rows = 120
    frame = pd.DataFrame(
        {
            "default": rng.choice(["No", "Yes"], rows),
            "score": rng.normal(10, 2, rows),
            "balance": rng.normal(0, 1, rows),
            "colour": rng.choice(["red", "blue"], rows),
        }
    )
    frame.loc[3, "score"] = None  # a row without one of its targets is left out
    frame.to_csv(tmp_path / "t.csv", index=False)
    (tmp_path / "r.yaml").write_text(
        f"data: {{path: t.csv, target: {target}}}\nmodel: {{type: feedforward, units: [4]}}\ntrain: {{{train}}}\n"
    )
    return load_recipe(tmp_path / "r.yaml").recipe


def test_dataset_has_an_array_per_target_and_views(tmp_path: Path) -> None:
    from kproto.data import load_dataset
    from kproto.data.targets import target_dataset

    dataset = load_dataset(_recipe(tmp_path, "positive_class: {default: 'No'}"))
    info = dataset.info
    assert info.task == catalog.MULTI_TARGET and [e["name"] for e in info.targets] == ["default", "score"]
    assert info.input_shape == (3,)  # balance and colour (one-hot): the other target is never a feature
    assert set(dataset.y_train) == {"default", "score"} and dataset.y_train["default"].dtype == np.int32
    assert sum(info.rows.values()) == 119 and dataset.dropped_rows == 1
    assert info.targets[0]["class_names"] == ["Yes", "No"]  # positive_class last
    view = target_dataset(dataset, "score")
    assert view.info.task == catalog.REGRESSION and view.preprocessor.state["target"]["name"] == "score"
    assert view.y_test is dataset.y_test["score"] and "mean_prediction_mae" in view.baselines
    saved = info.to_dict()
    assert saved["targets"][1]["target_mean"] == pytest.approx(info.targets[1]["target_mean"])


def test_a_single_target_info_is_saved_as_before(tmp_path: Path) -> None:
    from kproto.data import load_dataset

    dataset = load_dataset(_recipe(tmp_path, target="default"))
    assert "targets" not in dataset.info.to_dict() and "targets" not in dataset.preprocessor.state


def test_a_missing_target_column_is_named(tmp_path: Path) -> None:
    from kproto.data import load_dataset

    recipe = _recipe(tmp_path, target="[default, scores]")
    with pytest.raises(DataError) as caught:
        load_dataset(recipe)
    assert caught.value.field == "data.target" and "score" in str(caught.value)


def test_named_heads_and_compiled_losses(tmp_path: Path) -> None:
    from kproto.data import load_dataset
    from kproto.models import build_model
    from kproto.training.targets import compile_targets

    recipe = _recipe(tmp_path, "loss_weights: {score: 0.25}, metrics: {default: [auc]}")
    dataset = load_dataset(recipe)
    model = build_model(recipe.model, dataset.info)
    outputs = model.predict(dataset.x_test[:3], verbose=0)
    assert set(outputs) == {"default", "score"}
    assert outputs["default"].shape == (3, 2) and outputs["score"].shape == (3, 1)
    setup = compile_targets(model, recipe, dataset.info, 1)
    assert setup.weights == {"default": 1.0, "score": 0.25}
    assert setup.targets["default"].metric_names == ["auc"] and setup.targets["score"].metric_names == ["mae"]
    assert setup.targets["score"].label_mode == "value"


def test_a_metric_of_the_other_task_is_refused(tmp_path: Path) -> None:
    from kproto.data import load_dataset
    from kproto.models import build_model
    from kproto.training.targets import compile_targets

    recipe = _recipe(tmp_path, "metrics: {score: [auc]}")
    dataset = load_dataset(recipe)
    with pytest.raises(RecipeError) as caught:
        compile_targets(build_model(recipe.model, dataset.info), recipe, dataset.info, 1)
    assert caught.value.field == "train.metrics.score"


def test_answer_columns_are_named_after_the_target(tmp_path: Path) -> None:
    from kproto.data import load_dataset
    from kproto.outputs.targets import answer_targets, split_outputs, stack_outputs, target_columns, target_records

    dataset = load_dataset(_recipe(tmp_path))
    outputs = {"default": np.array([[0.8, 0.2], [0.1, 0.9]]), "score": np.array([[9.5], [11.0]])}
    frames = answer_targets(outputs, dataset.info, dataset.preprocessor, None)
    columns = target_columns(frames)
    assert list(columns.columns) == ["prediction_default", "p_default_No", "p_default_Yes", "prediction_score"]
    assert columns["prediction_default"].tolist() == ["No", "Yes"]
    records = target_records(frames)
    assert records[1]["score"]["prediction"] == pytest.approx(11.0) and records[1]["default"]["prediction"] == "Yes"
    stacked = stack_outputs(outputs, dataset.info)
    assert stacked.shape == (2, 3)
    assert np.allclose(split_outputs(stacked, dataset.info)["score"], outputs["score"])
