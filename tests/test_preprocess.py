"""kproto.data.preprocess: task inference, and preprocessing fitted on training rows only (statistics, categories,
imputation, label indices)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import mixed_frame

from kproto.data.preprocess import NumericRule, Preprocessor, infer_task
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


# ----------------------------------------------------------------------------- the audit's decisions
def dated_frame(n: int = 120) -> pd.DataFrame:
    rng = np.random.default_rng(4)
    days = pd.date_range("2019-03-01", periods=n, freq="3D")
    return pd.DataFrame(
        {
            "when": days.strftime("%Y-%m-%d"),
            "city": [f"c{i % 80}" for i in range(n)],
            "label": rng.choice(["x", "y"], n),
        }
    )


def test_dates_become_eight_cyclic_and_scaled_features() -> None:
    from kproto.data.preprocess import DATE_FEATURES, feature_groups

    frame = dated_frame()
    pre = Preprocessor.fit(
        frame, np.arange(100), spec(), "classification", "table", ["when"], roles={"when": "datetime"}
    )
    x = pre.features(frame)
    assert x.shape == (120, len(DATE_FEATURES)) == (120, 8)
    assert feature_groups(pre.state)[0].stop == 8
    month = pd.to_datetime(frame["when"]).dt.month.to_numpy()
    np.testing.assert_allclose(x[:, 1], np.sin(2 * np.pi * (month - 1) / 12), atol=1e-5)
    np.testing.assert_allclose(x[:, 1] ** 2 + x[:, 2] ** 2, 1.0, atol=1e-5)  # a point on the circle
    assert abs(float(x[:100, 7].mean())) < 1e-5  # elapsed time standardized on the training rows
    assert np.all(np.diff(x[:, 7]) > 0)  # later dates, larger elapsed time


def test_a_missing_date_is_imputed_and_a_bad_one_named() -> None:
    from kproto.core.errors import DataError

    frame = dated_frame()
    pre = Preprocessor.fit(
        frame, np.arange(100), spec(), "classification", "table", ["when"], roles={"when": "datetime"}
    )
    gaps = frame.copy()
    gaps.loc[3, "when"] = None
    assert np.isfinite(pre.features(gaps)).all() and pre.state["imputed"]["when"] == "median date"
    gaps.loc[5, "when"] = "soon"
    with pytest.raises(DataError, match="row 5 has 'soon'"):
        pre.features(gaps)


def test_high_cardinality_categories_are_capped_with_other() -> None:
    from kproto.data.preprocess import CATEGORY_CAP, OTHER

    frame = dated_frame(400)
    pre = Preprocessor.fit(
        frame, np.arange(300), spec(), "classification", "table", ["city"], roles={"city": "categorical"}
    )
    column = pre.state["columns"][0]
    assert column["values"][-1] == OTHER and len(column["values"]) == CATEGORY_CAP + 1
    new = pd.DataFrame({"city": ["c0", "never seen"]})
    x = pre.features(new)
    assert x.shape == (2, CATEGORY_CAP + 1)
    assert x[1, -1] == 1.0 and x[1].sum() == 1.0  # an unseen city is '(other)', not all zeros
    uncapped = Preprocessor.fit(frame, np.arange(300), spec(), "classification", "table", ["city"])
    assert len(uncapped.state["columns"][0]["values"]) == 80  # without the audit: every value, as before


def test_a_categorical_role_reads_numbers_as_categories() -> None:
    frame = pd.DataFrame({"year": [2001, 2002, 2003] * 10, "label": ["x", "y"] * 15})
    pre = Preprocessor.fit(
        frame, np.arange(30), spec(), "classification", "table", ["year"], roles={"year": "categorical"}
    )
    assert pre.state["columns"][0]["type"] == "categorical" and pre.features(frame).shape == (30, 3)


def test_input_problems_count_unseen_categories_and_imputed_cells() -> None:
    from kproto.data.preprocess import input_problems, problems_summary

    frame = mixed_frame()
    pre = Preprocessor.fit(frame, np.arange(len(frame)), spec(), "classification", "table", ["num", "cat"])
    new = pd.DataFrame({"num": [1.0, None, 2.0], "cat": ["a", "zzz", None]})
    problems = input_problems(pre.state, new)
    assert problems[0] == []
    assert [(p["code"], p["column"]) for p in problems[1]] == [("imputed", "num"), ("unseen_category", "cat")]
    assert [(p["code"], p["column"]) for p in problems[2]] == [("imputed", "cat")]
    line = problems_summary(problems)
    assert (
        line.startswith("warning: 2 of 3 rows") and "1 unseen categories (cat: 1)" in line and "2 imputed cells" in line
    )
    assert problems_summary(input_problems(pre.state, new.iloc[:1])) is None


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
        (None, 48, "from the data: 95th percentile of the training texts' token counts is 42"),
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


def test_robust_scaling_centres_on_the_median_and_clips_smoothly() -> None:
    from kproto.data.preprocess import NORMAL_IQR, SMOOTH_CLIP, fit_numeric, standardize

    values = pd.Series([1.0, 2.0, 3.0, 4.0, 5.0, 1000.0])  # one outlier
    column = fit_numeric("x", values, "robust")
    assert column["mean"] == 3.5 and column["clip"] == SMOOTH_CLIP
    assert column["std"] == pytest.approx((values.quantile(0.75) - values.quantile(0.25)) / NORMAL_IQR)
    scaled = standardize(values.to_numpy(), column)[:, 0]
    assert np.all(np.abs(scaled) < SMOOTH_CLIP)  # the outlier is held within ±3
    assert scaled[-1] > 2.9 and np.all(np.diff(scaled) > 0)  # and the order is kept
    assert fit_numeric("x", pd.Series([2.0, 2.0, 2.0, 7.0]), "robust")["std"] > 0  # IQR 0: the std instead


def test_quantile_scaling_maps_ranks_onto_normal_scores() -> None:
    from statistics import NormalDist

    from kproto.data.preprocess import NORMAL_TAIL, fit_numeric, standardize

    rng = np.random.default_rng(0)
    values = pd.Series(np.concatenate([np.zeros(400), rng.exponential(5.0, 600)]))  # 40% zeros, a long tail
    column = fit_numeric("x", values, "quantile")
    scaled = standardize(values.to_numpy(), column)[:, 0]
    limit = NormalDist().inv_cdf(1.0 - NORMAL_TAIL)
    assert np.all(np.abs(scaled) <= limit + 1e-9)
    order = np.argsort(values.to_numpy(), kind="stable")
    assert np.all(np.diff(scaled[order]) >= 0)  # the order is kept
    # the zeros cover levels 0 to 0.4: they share the middle level's score, not the lowest one
    assert scaled[0] == pytest.approx(NormalDist().inv_cdf(0.2), abs=0.02)
    assert np.median(scaled[values.to_numpy() > 0]) == pytest.approx(NormalDist().inv_cdf(0.7), abs=0.05)
    outside = standardize(np.array([-5.0, 1e9]), column)[:, 0]  # beyond the training range: the end scores
    np.testing.assert_allclose(outside, [column["normal_scores"][0], column["normal_scores"][-1]])
    constant = fit_numeric("x", pd.Series([3.0, 3.0, 3.0]), "quantile")
    assert "normal_scores" not in constant
    np.testing.assert_allclose(standardize(np.array([3.0]), constant), [[0.0]])


def test_a_run_fitted_before_robust_scaling_reads_the_same() -> None:
    """Old preprocess.json columns have no clip: their values are the plain standardized ones."""
    from kproto.data.preprocess import standardize

    old = {"name": "x", "type": "numeric", "fill": 0.0, "mean": 1.0, "std": 2.0}
    np.testing.assert_allclose(standardize(np.array([1.0, 11.0]), old)[:, 0], [0.0, 5.0])


def test_feedforward_tables_scale_robustly_by_default_other_families_do_not(tmp_path) -> None:
    from kproto.data.dataset import load_dataset
    from kproto.recipe.schema import Recipe

    frame = mixed_frame()
    frame.to_csv(tmp_path / "d.csv", index=False)
    data = {"path": str(tmp_path / "d.csv"), "target": "label"}
    for model, scaling, clipped in (
        ({"type": "feedforward"}, "auto", True),
        ({"type": "feedforward"}, "standard", False),
        ({"type": "rnn", "units": [4]}, "auto", False),
        ({"type": "rnn", "units": [4]}, "robust", True),
        ({"type": "feedforward"}, "quantile", False),
    ):
        recipe = Recipe(data={**data, "scaling": scaling}, model=model)
        dataset = load_dataset(recipe)
        numeric = next(c for c in dataset.preprocessor.state["columns"] if c["name"] == "num")
        assert ("clip" in numeric) == clipped, (model, scaling)
        assert ("normal_scores" in numeric) == (scaling == "quantile"), (model, scaling)
        layout = dataset.info.table
        assert layout["numeric"] and len(layout["quantiles"]) == len(layout["numeric"])
        assert "table" not in dataset.info.to_dict()  # read when building the model, not saved


@pytest.mark.parametrize("scaling", ["standard", "robust", "quantile"])
def test_unstandardize_inverts_standardize(scaling: str) -> None:
    from kproto.data.preprocess import fit_numeric, standardize, unstandardize

    values = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 40.0])
    column = fit_numeric("x", pd.Series(values), scaling)
    np.testing.assert_allclose(unstandardize(standardize(values, column)[:, 0], column), values, rtol=1e-6)


# ----------------------------------------------------------------------------- missing-value indicators
def gappy_frame(n: int = 200, empty: int = 20) -> pd.DataFrame:
    """`income` empty in the first `empty` rows, `age` empty in one, `other` complete."""
    rng = np.random.default_rng(3)
    income = rng.normal(50.0, 10.0, n)
    income[:empty] = np.nan
    age = rng.normal(40.0, 5.0, n)
    age[0] = np.nan
    return pd.DataFrame({"income": income, "age": age, "other": rng.normal(size=n), "label": ["x", "y"] * (n // 2)})


@pytest.mark.parametrize(("indicators", "marked"), [(False, []), (True, ["income", "age"])])
def test_missing_indicators_mark_every_gappy_numeric_column(indicators: bool, marked: list[str]) -> None:
    from kproto.data.preprocess import feature_groups

    frame = gappy_frame()
    features = ["income", "age", "other"]
    rule = NumericRule(indicators=indicators)
    pre = Preprocessor.fit(frame, np.arange(200), spec(), "classification", "table", features, numeric=rule)
    assert [c["name"] for c in pre.state["columns"] if c.get("indicator")] == marked
    x = pre.features(frame)
    assert x.shape == (200, 3 + len(marked))
    groups = {g.name: (g.start, g.stop) for g in feature_groups(pre.state)}
    if marked:
        start, stop = groups["income"]
        assert stop - start == 2  # the value, then its indicator
        np.testing.assert_array_equal(x[:, start + 1], (np.arange(200) < 20).astype(np.float32))
        assert np.all(np.isfinite(x[:, start]))  # the gaps are still imputed
        assert "missing-value input" in pre.state["imputed"]["income"]
        assert x[0, groups["age"][0] + 1] == 1.0 and x[1:, groups["age"][0] + 1].sum() == 0.0
    assert groups["other"][1] == x.shape[1]


def test_missing_indicators_come_from_the_training_rows_only() -> None:
    frame = gappy_frame()
    train = np.arange(20, 200)  # every empty income is outside the training rows
    rule = NumericRule(indicators=True)
    pre = Preprocessor.fit(frame, train, spec(), "classification", "table", ["income", "other"], numeric=rule)
    assert not any(c.get("indicator") for c in pre.state["columns"])
    assert pre.features(frame).shape == (200, 2)  # new rows' gaps are imputed, with no input to mark them


def test_missing_indicators_are_off_unless_the_recipe_asks(tmp_path) -> None:
    from kproto.data.dataset import load_dataset
    from kproto.recipe.schema import Recipe

    gappy_frame().to_csv(tmp_path / "d.csv", index=False)
    data = {"path": str(tmp_path / "d.csv"), "target": "label"}
    plain = load_dataset(Recipe(data=data, model={"type": "feedforward"}))
    assert not any(c.get("indicator") for c in plain.preprocessor.state["columns"])
    assert plain.info.input_shape[-1] == 3
    dataset = load_dataset(Recipe(data={**data, "missing_indicators": True}, model={"type": "feedforward"}))
    income = next(c for c in dataset.preprocessor.state["columns"] if c["name"] == "income")
    assert income["indicator"] is True
    assert len(dataset.info.table["numeric"]) == 3  # the 0/1 inputs are not embedded as numbers
    assert dataset.info.input_shape[-1] == 3 + sum(
        1 for c in dataset.preprocessor.state["columns"] if c.get("indicator")
    )


# ----------------------------------------------------------------------------- logged skewed columns
@pytest.mark.parametrize(
    ("values", "logged"),
    [
        pytest.param(np.exp(np.random.default_rng(0).normal(3.0, 1.2, 400)), True, id="positive-and-skewed"),
        pytest.param(np.random.default_rng(0).normal(10.0, 1.0, 400), False, id="symmetric"),
        pytest.param(np.r_[np.zeros(100), np.exp(np.random.default_rng(0).normal(3.0, 1.2, 300))], False, id="zeros"),
        pytest.param(np.r_[-1.0, np.exp(np.random.default_rng(0).normal(3.0, 1.2, 399))], False, id="a-negative"),
    ],
)
def test_only_positive_right_skewed_columns_are_logged(values: np.ndarray, logged: bool) -> None:
    from kproto.data.preprocess import fit_numeric, skewed_positive

    series = pd.Series(values)
    assert (skewed_positive(series) is not None) == logged
    column = fit_numeric("x", series, "robust", log_skewed=True)
    assert column.get("log", False) == logged
    assert "log" not in fit_numeric("x", series, "robust")  # only when asked


@pytest.mark.parametrize("scaling", ["standard", "robust", "quantile"])
def test_a_logged_column_is_scaled_in_logs_and_read_back(scaling: str) -> None:
    from kproto.data.preprocess import fit_numeric, standardize, unstandardize

    values = pd.Series(np.exp(np.random.default_rng(1).normal(2.0, 1.0, 500)))
    values[:5] = np.nan
    column = fit_numeric("x", values, scaling, log_skewed=True)
    assert column["log"] and column["skew"] > 2
    assert column["fill"] == pytest.approx(values.median())  # gaps are filled in the column's own units
    known = values.dropna().to_numpy()
    scaled = standardize(known, column)[:, 0]
    if scaling == "standard":  # the logs are standardized: a ratio is a step
        np.testing.assert_allclose(scaled, (np.log1p(known) - column["mean"]) / column["std"])
    np.testing.assert_allclose(unstandardize(scaled, column), known, rtol=1e-3 if scaling == "quantile" else 1e-6)
    assert np.isfinite(standardize(np.array([-3.0, 0.0]), column)).all()  # below what training saw: read as 0


def test_feedforward_logs_skewed_columns_by_default_other_families_do_not(tmp_path) -> None:
    from kproto.data.dataset import load_dataset
    from kproto.recipe.schema import Recipe

    rng = np.random.default_rng(4)
    frame = pd.DataFrame(
        {"area": np.exp(rng.normal(5.0, 1.0, 120)), "x": rng.normal(size=120), "label": ["a", "b"] * 60}
    )
    frame.to_csv(tmp_path / "d.csv", index=False)
    data = {"path": str(tmp_path / "d.csv"), "target": "label"}
    for model, wanted, logged in (
        ({"type": "feedforward"}, "auto", True),
        ({"type": "feedforward"}, False, False),
        ({"type": "rnn", "units": [4]}, "auto", False),
        ({"type": "rnn", "units": [4]}, True, True),
    ):
        dataset = load_dataset(Recipe(data={**data, "log_skewed": wanted}, model=model))
        columns = {c["name"]: c for c in dataset.preprocessor.state["columns"]}
        assert columns["area"].get("log", False) == logged, (model, wanted)
        assert "log" not in columns["x"]
