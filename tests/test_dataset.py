"""kproto.data.dataset.load_dataset: the task, seeded splits, preprocessing fitted on its own training split, rows
without a target dropped, image folders; and random CSV bytes never crash validate or loading."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import (
    TINY_RECIPE,
    mixed_frame,
    recipe_text,
    tiny_frame,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kproto.cli import cli
from kproto.core.errors import KprotoError
from kproto.data.dataset import load_dataset
from kproto.data.splits import split_indices
from kproto.recipe import load_recipe


def test_a_different_seed_gives_a_different_split(make_recipe, tmp_path: Path) -> None:
    from kproto.data import load_dataset
    from kproto.recipe import load_recipe

    tiny_frame(150, 0).to_csv(tmp_path / "tiny.csv", index=False)
    tests = [load_dataset(load_recipe(make_recipe(TINY_RECIPE.format(seed=s))).recipe).x_test for s in (42, 42, 43)]
    np.testing.assert_array_equal(tests[0], tests[1])
    assert not np.array_equal(tests[0], tests[2])


CELLS = st.one_of(
    st.sampled_from(
        [
            "",
            "nan",
            "inf",
            "-inf",
            "NA",
            "1",
            "0",
            "2.5",
            "-3",
            "1e308",
            "yes",
            "no",
            '"',
            '"a,b"',
            "é",
            "\t",
            ";",
            "label",
        ]
    ),
    st.text(max_size=4),
)


ROWS = st.lists(st.lists(CELLS, min_size=1, max_size=5).map(",".join), max_size=8)


CSV_BYTES = st.one_of(
    st.binary(max_size=200),
    ROWS.map(lambda rows: "\n".join(["x1,x2,label", *rows]).encode("utf-8")),
    ROWS.map(lambda rows: "\n".join(rows).encode("utf-8")),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=CSV_BYTES)
def test_random_csv_never_crashes(runner, tmp_path: Path, content: bytes) -> None:
    from kproto.data import load_dataset
    from kproto.recipe import load_recipe

    (tmp_path / "data.csv").write_bytes(content)
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(recipe_text().replace("data.csv", "data.csv\n  split: {validation: 0.2, test: 0.2}"))
    result = runner.invoke(cli, ["validate", str(recipe)])
    assert result.exit_code in (0, 2), f"{content!r}\n{result.output}"
    assert "Unexpected error" not in result.output, f"{content!r}\n{result.output}"
    try:
        dataset = load_dataset(load_recipe(recipe).recipe)
    except KprotoError:
        return
    assert len(dataset.x_train) > 0
    assert np.isfinite(dataset.x_train).all()


# ----------------------------------------------------------------------------- load_dataset
def minimal_recipe(data: Path, target: str = "label") -> str:
    return f"data: {{path: {data}, target: {target}}}\nmodel: {{type: feedforward}}\n"


def test_task_is_inferred_from_a_recipe(make_recipe, tiny_classification: Path, tiny_regression: Path) -> None:
    for data, target, task in ((tiny_classification, "label", "classification"), (tiny_regression, "y", "regression")):
        recipe = load_recipe(make_recipe(minimal_recipe(data, target))).recipe
        assert load_dataset(recipe).info.task == task


def test_dataset_split_follows_the_seed(make_recipe, tiny_classification: Path) -> None:
    def test_rows(seed: int) -> np.ndarray:
        text = f"seed: {seed}\ndata: {{path: {tiny_classification}, target: label}}\nmodel: {{type: feedforward}}\n"
        return load_dataset(load_recipe(make_recipe(text)).recipe).x_test

    np.testing.assert_array_equal(test_rows(5), test_rows(5))
    assert not np.array_equal(test_rows(5), test_rows(6))


def test_load_dataset_fits_on_its_own_training_split(make_recipe, tmp_path: Path) -> None:
    frame = mixed_frame(200)
    train_rows, _, test_rows = split_indices(len(frame), 0.15, 0.15, 42, frame["label"].astype(str).to_numpy())
    frame.loc[frame.index[test_rows], "num"] += 1000.0  # shift every test row
    path = tmp_path / "shifted.csv"
    frame.to_csv(path, index=False)
    dataset = load_dataset(load_recipe(make_recipe(minimal_recipe(path))).recipe)
    column = next(c for c in dataset.preprocessor.state["columns"] if c["name"] == "num")
    assert column["mean"] == pytest.approx(frame["num"].iloc[train_rows].mean())
    assert dataset.x_test[:, 0].min() > 100  # test rows are far out, as they should be


def test_rows_with_a_missing_target_are_dropped(make_recipe, tmp_path: Path) -> None:
    frame = mixed_frame(100)
    frame["label"] = frame["label"].astype(object)
    frame.loc[frame.index[:7], "label"] = None
    path = tmp_path / "gaps.csv"
    frame.to_csv(path, index=False)
    dataset = load_dataset(load_recipe(make_recipe(minimal_recipe(path))).recipe)
    assert sum(dataset.info.rows.values()) == 93
    assert set(dataset.info.class_names) == {"x", "y"}


def _write_image_folder(root: Path, per_class: int = 12) -> Path:
    """Digits as 8x8 PNG files in one subfolder per class (0, 1, 2)."""
    from PIL import Image

    frame = pd.read_csv(Path(__file__).resolve().parent.parent / "data" / "digits.csv")
    for label in (0, 1, 2):
        folder = root / "images" / f"digit_{label}"
        folder.mkdir(parents=True)
        rows = frame[frame["label"] == label].head(per_class)
        for i, row in enumerate(rows.drop(columns="label").to_numpy()):
            pixels = (row.reshape(8, 8) * 15).astype("uint8")
            Image.fromarray(pixels, mode="L").save(folder / f"{i}.png")
    return root / "images"


def test_image_folder_loads_with_one_class_per_subfolder(tmp_path: Path) -> None:
    from kproto.recipe import recipe_from_dict

    folder = _write_image_folder(tmp_path)
    recipe = recipe_from_dict(
        {"data": {"path": str(folder), "target": "class", "shape": [8, 8, 1]}, "model": {"type": "cnn"}}
    )
    dataset = load_dataset(recipe)
    assert dataset.info.kind == "image_folder"
    assert dataset.info.input_shape == (8, 8, 1)
    assert dataset.info.class_names == ["digit_0", "digit_1", "digit_2"]
    total = len(dataset.x_train) + len(dataset.x_val) + len(dataset.x_test)
    assert total == 36
    assert 0.0 <= dataset.x_train.min() and dataset.x_train.max() <= 1.0
    again = load_dataset(recipe)
    assert np.array_equal(dataset.y_test, again.y_test)


@pytest.mark.slow
def test_cnn_trains_on_an_image_folder(tmp_path: Path, runner) -> None:
    folder = _write_image_folder(tmp_path)
    recipe = tmp_path / "folder.yaml"
    recipe.write_text(
        f"data: {{path: {folder}, target: class, shape: [8, 8, 1]}}\n"
        "model: {type: cnn, filters: [8], dense: [16]}\ntrain: {epochs: 2, batch_size: 8}\n"
    )
    result = runner.invoke(cli, ["train", str(recipe), "--out", str(tmp_path / "runs"), "--backend", "tensorflow"])
    assert result.exit_code == 0, result.output
    run = next((tmp_path / "runs").glob("*/*/metrics.json")).parent
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["status"] == "completed" and "accuracy" in metrics["test"]
    evaluated = runner.invoke(cli, ["evaluate", str(run), "--json"])
    assert evaluated.exit_code == 0, evaluated.output
    assert abs(json.loads(evaluated.output)["accuracy"] - metrics["test"]["accuracy"]) < 1e-6
