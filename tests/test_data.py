"""The data pipeline: task inference, seeded stratified splits, train-only preprocessing, readers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kproto.cli import cli
from kproto.data.dataset import load_dataset
from kproto.data.preprocess import Preprocessor, infer_task
from kproto.data.readers import read_table
from kproto.data.splits import split_indices
from kproto.recipe import load_recipe
from kproto.recipe.schema import Data


def recipe_text(data: Path, target: str = "label") -> str:
    return f"data: {{path: {data}, target: {target}}}\nmodel: {{type: feedforward}}\n"


# ----------------------------------------------------------------------------- task inference
@pytest.mark.parametrize(
    ("values", "expected"),
    [
        pytest.param(["cat", "dog", "cat", "bird"] * 5, "classification", id="strings"),
        pytest.param([True, False, True, True] * 5, "classification", id="booleans"),
        pytest.param([0, 1, 2, 1, 0] * 4, "classification", id="integers-few"),
        pytest.param(list(range(200)), "regression", id="integers-many"),
        pytest.param(list(np.linspace(0.0, 1.0, 20)), "regression", id="floats"),
        pytest.param([0.5, 1.5, 0.5, 1.5] * 5, "regression", id="floats-few-but-fractional"),
        pytest.param([1.0, 2.0, np.nan, 1.0, 3.0] * 4, "classification", id="integers-with-gaps-read-as-float"),
        pytest.param(["1.5", "x"] * 10, "classification", id="mixed-text"),
    ],
)
def test_infer_task(values: list, expected: str) -> None:
    assert infer_task(pd.Series(values), max_classes=20) == expected


@pytest.mark.parametrize(("distinct", "max_classes", "expected"), [(5, 5, "classification"), (6, 5, "regression")])
def test_infer_task_respects_max_classes(distinct: int, max_classes: int, expected: str) -> None:
    series = pd.Series(np.arange(60) % distinct)
    assert infer_task(series, max_classes) == expected


def test_task_is_inferred_from_a_recipe(make_recipe, tiny_classification: Path, tiny_regression: Path) -> None:
    for data, target, task in ((tiny_classification, "label", "classification"), (tiny_regression, "y", "regression")):
        recipe = load_recipe(make_recipe(recipe_text(data, target))).recipe
        assert load_dataset(recipe).info.task == task


# ----------------------------------------------------------------------------- splits
def labels_for(n: int, shares: tuple[float, ...], seed: int = 0) -> np.ndarray:
    counts = np.floor(np.asarray(shares) * n).astype(int)
    counts[0] += n - counts.sum()
    labels = np.repeat([f"c{i}" for i in range(len(shares))], counts)
    return np.random.default_rng(seed).permutation(labels)


@pytest.mark.parametrize("stratified", [True, False])
def test_split_is_seeded(stratified: bool) -> None:
    labels = labels_for(500, (0.6, 0.3, 0.1)) if stratified else None
    first = split_indices(500, 0.15, 0.15, 7, labels)
    again = split_indices(500, 0.15, 0.15, 7, labels)
    other = split_indices(500, 0.15, 0.15, 8, labels)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    assert any(set(a.tolist()) != set(c.tolist()) for a, c in zip(first, other, strict=True))


@pytest.mark.parametrize(("n", "validation", "test"), [(500, 0.15, 0.15), (1000, 0.1, 0.2), (300, 0.2, 0.0)])
def test_split_is_a_partition_with_the_asked_sizes(n: int, validation: float, test: float) -> None:
    train, val, tst = split_indices(n, validation, test, 3, labels_for(n, (0.5, 0.5)))
    together = np.concatenate([train, val, tst])
    assert sorted(together.tolist()) == list(range(n))
    assert abs(len(val) - n * validation) <= 2
    assert abs(len(tst) - n * test) <= 2


@pytest.mark.parametrize("shares", [(0.6, 0.3, 0.1), (0.9, 0.1), (0.25, 0.25, 0.25, 0.25)])
def test_split_keeps_class_shares(shares: tuple[float, ...]) -> None:
    n = 1000
    labels = labels_for(n, shares, seed=1)
    for part in split_indices(n, 0.15, 0.15, 11, labels):
        for i, share in enumerate(shares):
            got = np.mean(labels[part] == f"c{i}")
            assert abs(got - share) <= 1.0 / len(part) + 1e-9, (i, got, share)


def test_dataset_split_follows_the_seed(make_recipe, tiny_classification: Path) -> None:
    def test_rows(seed: int) -> np.ndarray:
        text = f"seed: {seed}\ndata: {{path: {tiny_classification}, target: label}}\nmodel: {{type: feedforward}}\n"
        return load_dataset(load_recipe(make_recipe(text)).recipe).x_test

    np.testing.assert_array_equal(test_rows(5), test_rows(5))
    assert not np.array_equal(test_rows(5), test_rows(6))


# ----------------------------------------------------------------------------- preprocessing: train rows only
def spec(**fields) -> Data:
    return Data(path="unused.csv", target="label", **fields)


def mixed_frame(n: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(2)
    return pd.DataFrame(
        {
            "num": rng.normal(10.0, 2.0, size=n),
            "cat": rng.choice(["a", "b", "c"], size=n),
            "label": rng.choice(["x", "y"], size=n),
        }
    )


def test_numeric_statistics_come_from_training_rows_only() -> None:
    frame = mixed_frame()
    train_rows, _, test_rows = split_indices(len(frame), 0.15, 0.15, 0, frame["label"].to_numpy())
    frame.loc[frame.index[test_rows[0]], "num"] = 1e6  # a value only present in a test row
    pre = Preprocessor.fit(frame, train_rows, spec(), "classification", "tabular", ["num", "cat"])
    column = next(c for c in pre.state["columns"] if c["name"] == "num")
    train_values = frame["num"].iloc[train_rows]
    assert column["mean"] == pytest.approx(train_values.mean())
    assert column["std"] == pytest.approx(train_values.std(ddof=0))
    assert column["mean"] < 100  # the outlier did not move it
    scaled = pre.features(frame.iloc[train_rows])[:, 0]
    assert scaled.mean() == pytest.approx(0.0, abs=1e-5)
    assert scaled.std() == pytest.approx(1.0, abs=1e-4)


def test_a_category_seen_only_in_test_rows_encodes_to_zeros() -> None:
    frame = mixed_frame()
    train_rows, _, test_rows = split_indices(len(frame), 0.15, 0.15, 0, frame["label"].to_numpy())
    frame.loc[frame.index[test_rows[0]], "cat"] = "only-in-test"
    pre = Preprocessor.fit(frame, train_rows, spec(), "classification", "tabular", ["num", "cat"])
    column = next(c for c in pre.state["columns"] if c["name"] == "cat")
    assert "only-in-test" not in column["values"]
    x = pre.features(frame.iloc[test_rows[:1]])
    assert x.shape == (1, 1 + len(column["values"]))
    assert np.all(x[0, 1:] == 0.0)
    known = pre.features(frame.iloc[train_rows[:5]])
    np.testing.assert_array_equal(known[:, 1:].sum(axis=1), np.ones(5))


def test_load_dataset_fits_on_its_own_training_split(make_recipe, tmp_path: Path) -> None:
    frame = mixed_frame(200)
    train_rows, _, test_rows = split_indices(len(frame), 0.15, 0.15, 42, frame["label"].astype(str).to_numpy())
    frame.loc[frame.index[test_rows], "num"] += 1000.0  # shift every test row
    path = tmp_path / "shifted.csv"
    frame.to_csv(path, index=False)
    dataset = load_dataset(load_recipe(make_recipe(recipe_text(path))).recipe)
    column = next(c for c in dataset.preprocessor.state["columns"] if c["name"] == "num")
    assert column["mean"] == pytest.approx(frame["num"].iloc[train_rows].mean())
    assert dataset.x_test[:, 0].min() > 100  # test rows are far out, as they should be


@pytest.mark.parametrize(("missing_value", "kind"), [(np.nan, "numeric"), (None, "categorical")])
def test_imputation_uses_training_statistics_and_is_recorded(missing_value, kind: str) -> None:
    frame = mixed_frame()
    column_name = "num" if kind == "numeric" else "cat"
    frame[column_name] = frame[column_name].astype(object)
    frame.loc[frame.index[[3, 9]], column_name] = missing_value
    if kind == "numeric":
        frame["num"] = pd.to_numeric(frame["num"])
    rows = np.arange(len(frame))
    pre = Preprocessor.fit(frame, rows, spec(), "classification", "tabular", ["num", "cat"])
    x = pre.features(frame)
    assert np.isfinite(x).all()
    record = pre.state["imputed"][column_name]
    column = next(c for c in pre.state["columns"] if c["name"] == column_name)
    if kind == "numeric":
        assert column["fill"] == pytest.approx(frame["num"].median())
        assert record.startswith("median")
    else:
        assert column["fill"] == frame["cat"].value_counts().index[0]
        assert record.startswith("most frequent")


def test_missing_error_mode_refuses_gaps() -> None:
    from kproto.errors import DataError

    frame = mixed_frame()
    frame.loc[frame.index[4], "num"] = np.nan
    pre = Preprocessor.fit(frame, np.arange(len(frame)), spec(missing="error"), "classification", "tabular", ["num"])
    with pytest.raises(DataError) as info:
        pre.features(frame, missing="error")
    assert info.value.field == "data.missing"


def test_labels_round_trip_through_indices() -> None:
    frame = mixed_frame()
    pre = Preprocessor.fit(frame, np.arange(len(frame)), spec(), "classification", "tabular", ["num"])
    codes = pre.targets(frame)
    assert codes.dtype.kind == "i"
    assert pre.decode(codes) == frame["label"].tolist()


# ----------------------------------------------------------------------------- readers
def write_formats(frame: pd.DataFrame, folder: Path) -> dict[str, Path]:
    paths = {fmt: folder / f"table.{fmt}" for fmt in ("csv", "tsv", "parquet", "npz")}
    frame.to_csv(paths["csv"], index=False)
    frame.to_csv(paths["tsv"], index=False, sep="\t")
    frame.to_parquet(paths["parquet"], index=False)
    np.savez(paths["npz"], **{c: np.asarray(frame[c].tolist()) for c in frame})  # str columns become '<U' arrays
    return paths


@pytest.fixture
def table() -> pd.DataFrame:
    rng = np.random.default_rng(4)
    n = 40
    return pd.DataFrame(
        {
            "a": rng.normal(size=n).round(6),
            "b": rng.integers(0, 100, size=n),
            "color": np.asarray(rng.choice(["red", "green", "blue"], size=n), dtype=object),
            "label": np.asarray(rng.choice(["yes", "no"], size=n), dtype=object),
        }
    )


@pytest.mark.parametrize("fmt", ["csv", "tsv", "parquet", "npz"])
def test_readers_load_the_same_table(fmt: str, table: pd.DataFrame, tmp_path: Path) -> None:
    path = write_formats(table, tmp_path)[fmt]
    loaded = read_table(path)
    assert list(loaded.columns) == list(table.columns)
    pd.testing.assert_frame_equal(loaded.astype(object), table.astype(object), check_dtype=False)


def test_every_format_gives_the_same_arrays(table: pd.DataFrame, tmp_path: Path, make_recipe) -> None:
    results = []
    for fmt, path in write_formats(table, tmp_path).items():
        recipe = load_recipe(
            make_recipe(
                f"data: {{path: {path.name}, target: label}}\nmodel: {{type: feedforward}}\n", name=f"{fmt}.yaml"
            )
        ).recipe
        results.append(load_dataset(recipe))
    for other in results[1:]:
        np.testing.assert_allclose(other.x_train, results[0].x_train, rtol=1e-6)
        np.testing.assert_array_equal(other.y_test, results[0].y_test)
        assert other.info.class_names == results[0].info.class_names


@pytest.mark.parametrize("fmt", ["csv", "tsv", "parquet", "npz"])
def test_header_reader_agrees_with_the_table_reader(fmt: str, table: pd.DataFrame, tmp_path: Path) -> None:
    from kproto.data.header import read_header

    path = write_formats(table, tmp_path)[fmt]
    assert read_header(path) == list(read_table(path).columns)


def test_rows_with_a_missing_target_are_dropped(make_recipe, tmp_path: Path) -> None:
    frame = mixed_frame(100)
    frame["label"] = frame["label"].astype(object)
    frame.loc[frame.index[:7], "label"] = None
    path = tmp_path / "gaps.csv"
    frame.to_csv(path, index=False)
    dataset = load_dataset(load_recipe(make_recipe(recipe_text(path))).recipe)
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
