"""kproto.data.preprocess: task inference, and preprocessing fitted on training rows only (statistics, categories,
imputation, label indices)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import mixed_frame

from kproto.data.preprocess import Preprocessor, infer_task
from kproto.data.splits import split_indices
from kproto.recipe.schema import Data


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


# ----------------------------------------------------------------------------- preprocessing: train rows only
def spec(**fields) -> Data:
    return Data(path="unused.csv", target="label", **fields)


def test_numeric_statistics_come_from_training_rows_only() -> None:
    frame = mixed_frame()
    train_rows, _, test_rows = split_indices(len(frame), 0.15, 0.15, 0, frame["label"].to_numpy())
    frame.loc[frame.index[test_rows[0]], "num"] = 1e6  # a value only present in a test row
    pre = Preprocessor.fit(frame, train_rows, spec(), "classification", "table", ["num", "cat"])
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
    pre = Preprocessor.fit(frame, train_rows, spec(), "classification", "table", ["num", "cat"])
    column = next(c for c in pre.state["columns"] if c["name"] == "cat")
    assert "only-in-test" not in column["values"]
    x = pre.features(frame.iloc[test_rows[:1]])
    assert x.shape == (1, 1 + len(column["values"]))
    assert np.all(x[0, 1:] == 0.0)
    known = pre.features(frame.iloc[train_rows[:5]])
    np.testing.assert_array_equal(known[:, 1:].sum(axis=1), np.ones(5))


@pytest.mark.parametrize(("missing_value", "kind"), [(np.nan, "numeric"), (None, "categorical")])
def test_imputation_uses_training_statistics_and_is_recorded(missing_value, kind: str) -> None:
    frame = mixed_frame()
    column_name = "num" if kind == "numeric" else "cat"
    frame[column_name] = frame[column_name].astype(object)
    frame.loc[frame.index[[3, 9]], column_name] = missing_value
    if kind == "numeric":
        frame["num"] = pd.to_numeric(frame["num"])
    rows = np.arange(len(frame))
    pre = Preprocessor.fit(frame, rows, spec(), "classification", "table", ["num", "cat"])
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
    from kproto.core.errors import DataError

    frame = mixed_frame()
    frame.loc[frame.index[4], "num"] = np.nan
    pre = Preprocessor.fit(frame, np.arange(len(frame)), spec(missing="error"), "classification", "table", ["num"])
    with pytest.raises(DataError) as info:
        pre.features(frame, missing="error")
    assert info.value.field == "data.missing"


def test_labels_round_trip_through_indices() -> None:
    frame = mixed_frame()
    pre = Preprocessor.fit(frame, np.arange(len(frame)), spec(), "classification", "table", ["num"])
    codes = pre.targets(frame)
    assert codes.dtype.kind == "i"
    assert pre.decode(codes) == frame["label"].tolist()


@pytest.mark.parametrize(
    ("values", "fill", "mean", "std"),
    [
        ([1.0, 2.0, None, 3.0], 2.0, 2.0, (0.5) ** 0.5),
        ([4.0, 4.0], 4.0, 4.0, 1.0),  # a constant column is not divided by zero
        ([None, None], 0.0, 0.0, 1.0),
        ([1e308, 1e308], 1e308, 1e308, 1.0),  # sums near the float64 limit do not overflow to inf
        ([1e200, None, -1e200], 0.0, 0.0, (2 / 3) ** 0.5 * 1e200),  # nor do squares
    ],
)
def test_one_numeric_rule_for_every_table(values: list, fill: float, mean: float, std: float) -> None:
    from kproto.data.preprocess import fit_numeric, standardize

    column = fit_numeric("x", pd.Series(values, dtype=float))
    assert (column["fill"], column["mean"]) == (fill, mean) and column["std"] == pytest.approx(std)
    scaled = standardize(pd.Series(values, dtype=float).fillna(fill).to_numpy(), column)
    assert scaled.shape == (len(values), 1) and np.isfinite(scaled).all()


@pytest.mark.parametrize(
    ("sequence_length", "expected", "source"),
    [
        (None, 48, "from the data: 95th percentile of the training texts' word counts is 42"),
        (12, 12, "set by data.sequence_length"),
    ],
)
def test_text_sequence_length_comes_from_the_data_unless_set(
    sequence_length: int | None, expected: int, source: str
) -> None:
    texts = [" ".join(["good coffee"] * 21)] * 30 + ["awful tea"] * 10  # 42 words in 75% of the rows
    frame = pd.DataFrame({"review": texts, "label": ["a", "b"] * 20})
    spec = Data(path="reviews.csv", target="label", text="review", sequence_length=sequence_length)
    fitted = Preprocessor.fit(frame, np.arange(len(frame)), spec, "classification", "text", ["review"])
    text = fitted.state["text"]
    assert text["sequence_length"] == expected
    assert text["sequence_length_source"].startswith(source)
