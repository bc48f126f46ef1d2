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


@pytest.mark.parametrize("scaling", ["standard", "robust"])
def test_load_dataset_fits_on_its_own_training_split(make_recipe, tmp_path: Path, scaling: str) -> None:
    frame = mixed_frame(200)
    train_rows, _, test_rows = split_indices(len(frame), 0.15, 0.15, 42, frame["label"].astype(str).to_numpy())
    frame.loc[frame.index[test_rows], "num"] += 1000.0  # shift every test row
    path = tmp_path / "shifted.csv"
    frame.to_csv(path, index=False)
    text = minimal_recipe(path).replace("target: label}", f"target: label, scaling: {scaling}}}")
    dataset = load_dataset(load_recipe(make_recipe(text)).recipe)
    column = next(c for c in dataset.preprocessor.state["columns"] if c["name"] == "num")
    train_values = frame["num"].iloc[train_rows]
    if scaling == "standard":
        assert column["mean"] == pytest.approx(train_values.mean())
        assert dataset.x_test[:, 0].min() > 100  # test rows are far out, as they should be
    else:
        assert column["mean"] == pytest.approx(train_values.median())
        assert dataset.x_test[:, 0].min() > 2.9  # far out, held within the smooth clip of 3


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


# ----------------------------------------------------------------------------- the audit inside load_dataset
AUDIT_RECIPE = """\
data:
  path: audit.csv
  target: label
{extra}model:
  type: feedforward
  units: [4]
"""


def audit_table(n: int = 120) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    x = rng.normal(size=n)
    return pd.DataFrame(
        {
            "patient": rng.choice(np.arange(1_000_000, 9_999_999), n, replace=False),
            "name": [f"Person {i}" for i in range(n)],
            "x": x,
            "site": "A",
            "visit": pd.date_range("2020-01-01", periods=n, freq="W").strftime("%Y-%m-%d"),
            "label": np.where(x + rng.normal(size=n) > 0, "yes", "no"),
        }
    )


def audited(make_recipe, tmp_path: Path, frame: pd.DataFrame, extra: str = "") -> object:
    frame.to_csv(tmp_path / "audit.csv", index=False)
    return load_dataset(load_recipe(make_recipe(AUDIT_RECIPE.format(extra=extra))).recipe)


def test_identifiers_and_constants_are_dropped_and_dates_become_features(make_recipe, tmp_path: Path) -> None:
    dataset = audited(make_recipe, tmp_path, audit_table())
    assert dataset.audit.dropped() == {"patient": "identifier", "name": "identifier", "site": "constant"}
    state = dataset.preprocessor.state
    assert state["features"] == ["x", "visit"]
    assert [c["type"] for c in state["columns"]] == ["numeric", "datetime"]
    assert dataset.info.input_shape == (1 + 8,)


def test_audit_off_uses_every_column_as_before(make_recipe, tmp_path: Path) -> None:
    dataset = audited(make_recipe, tmp_path, audit_table(), "  audit: off\n")
    assert dataset.audit is None
    assert dataset.preprocessor.state["features"] == ["patient", "name", "x", "site", "visit"]
    assert [c["type"] for c in dataset.preprocessor.state["columns"]][:3] == ["numeric", "categorical", "numeric"]


@pytest.mark.parametrize(
    ("columns", "features"),
    [
        ("{patient: numeric, visit: categorical}", ["patient", "x", "visit"]),  # an identifier kept, dates as labels
        ("{x: identifier, site: categorical}", ["site", "visit"]),  # a number dropped, a constant kept
        ("{visit: drop}", ["x"]),
    ],
)
def test_data_columns_overrides_the_audit(make_recipe, tmp_path: Path, columns: str, features: list[str]) -> None:
    dataset = audited(make_recipe, tmp_path, audit_table(), f"  columns: {columns}\n")
    assert dataset.preprocessor.state["features"] == features


def test_data_columns_overrides_apply_with_the_audit_off(make_recipe, tmp_path: Path) -> None:
    dataset = audited(make_recipe, tmp_path, audit_table(), "  audit: off\n  columns: {name: drop, visit: datetime}\n")
    state = dataset.preprocessor.state
    assert "name" not in state["features"]
    assert next(c for c in state["columns"] if c["name"] == "visit")["type"] == "datetime"


def test_an_unknown_column_in_data_columns_suggests_the_name(make_recipe, tmp_path: Path) -> None:
    with pytest.raises(KprotoError) as info:
        audited(make_recipe, tmp_path, audit_table(), "  columns: {patiant: drop}\n")
    assert info.value.field == "data.columns.patiant" and "did you mean 'patient'" in info.value.hint


def test_rows_with_an_empty_target_are_dropped_and_counted(make_recipe, tmp_path: Path) -> None:
    frame = audit_table()
    frame.loc[[3, 9, 12], "label"] = None
    frame.loc[20, "label"] = "   "
    dataset = audited(make_recipe, tmp_path, frame)
    assert dataset.dropped_rows == 4 and sum(dataset.info.rows.values()) == len(frame) - 4
    assert "4 row(s) have an empty target" in next(
        w.message for w in dataset.audit.warnings if w.code == "missing_target"
    )


def test_thousands_of_one_row_classes_are_refused(make_recipe, tmp_path: Path) -> None:
    frame = pd.DataFrame({"x": np.random.default_rng(0).normal(size=3000), "label": [f"c{i}" for i in range(3000)]})
    with pytest.raises(KprotoError) as info:
        audited(make_recipe, tmp_path, frame, "  task: classification\n")
    message = info.value.message
    assert "0 validation and 0 test rows out of 3000" in message and "3000 of 3000 classes" in message
    assert info.value.field == "data.split" and "data.classes" in info.value.hint


def test_a_table_too_small_for_its_held_out_shares_is_refused(make_recipe, tmp_path: Path) -> None:
    frame = pd.DataFrame({"x": [0.1, 0.5, 0.9], "label": [1.5, 2.5, 3.5]})
    with pytest.raises(KprotoError, match="0 validation and 0 test rows out of 3"):
        audited(make_recipe, tmp_path, frame)


ONE_INPUT_RECIPE = AUDIT_RECIPE.replace(
    "type: feedforward\n  units: [4]", "type: sequential\n  layers: [{{Dense: {{units: 4}}}}]"
)


def with_notes() -> pd.DataFrame:
    frame = audit_table()
    frame["notes"] = [
        f"a long note about visit {i} with several words in it, more than forty" for i in range(len(frame))
    ]
    return frame


def test_free_text_beside_table_columns_is_left_out_loudly_by_a_one_input_family(make_recipe, tmp_path) -> None:
    with_notes().to_csv(tmp_path / "audit.csv", index=False)
    dataset = load_dataset(load_recipe(make_recipe(ONE_INPUT_RECIPE.format(extra=""))).recipe)
    assert "notes" not in dataset.preprocessor.state["features"]
    assert "unused_column" in dataset.audit.codes()


def test_free_text_beside_table_columns_is_a_text_input_of_a_several_input_family(make_recipe, tmp_path) -> None:
    dataset = audited(make_recipe, tmp_path, with_notes())
    assert dataset.info.kind == "mixed" and "unused_column" not in dataset.audit.codes()
    assert dataset.preprocessor.state["features"] == ["x", "visit", "notes"]
    assert [p["name"] for p in dataset.info.inputs] == ["text", "tabular"]


def test_features_listed_beside_data_text_are_refused_by_a_one_input_family(make_recipe, tmp_path) -> None:
    with_notes().to_csv(tmp_path / "audit.csv", index=False)
    recipe = make_recipe(ONE_INPUT_RECIPE.format(extra="  text: notes\n  features: [notes, x]\n"))
    with pytest.raises(KprotoError) as info:
        load_dataset(load_recipe(recipe).recipe)
    assert info.value.field == "data.features" and "'x'" in info.value.message


def test_features_listed_beside_data_text_are_read_by_a_several_input_family(make_recipe, tmp_path) -> None:
    dataset = audited(make_recipe, tmp_path, with_notes(), "  text: notes\n  features: [notes, x]\n")
    assert dataset.preprocessor.state["features"] == ["notes", "x"] and dataset.info.kind == "mixed"


def test_saved_preprocessing_gives_the_same_columns_without_an_audit(make_recipe, tmp_path: Path) -> None:
    first = audited(make_recipe, tmp_path, audit_table())
    again = load_dataset(load_recipe(tmp_path / "recipe.yaml").recipe, first.preprocessor)
    assert again.audit is None
    np.testing.assert_array_equal(first.x_test, again.x_test)


def test_columns_beside_data_text_are_warned_about_in_a_text_model(make_recipe, tmp_path: Path) -> None:
    frame = audit_table()
    frame["notes"] = [
        f"a long note about visit {i} with several words in it, more than forty" for i in range(len(frame))
    ]
    frame.to_csv(tmp_path / "audit.csv", index=False)
    text = AUDIT_RECIPE.format(extra="  text: notes\n  sequence_length: 16\n").replace(
        "type: feedforward\n  units: [4]", "type: lstm"
    )
    dataset = load_dataset(load_recipe(make_recipe(text)).recipe)
    assert dataset.info.kind == "text"
    unused = {w.column for w in dataset.audit.all_warnings() if w.code == "unused_column"}
    assert unused == {"x", "visit"}  # the identifiers and the constant are dropped, and said so, anyway
