"""kproto.data.series: the time column parsed and checked, rows ordered per series, gaps, calendar features."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kproto.core.errors import DataError
from kproto.data import series


@pytest.mark.parametrize(
    ("values", "first", "last"),
    [
        (["2020-01-01", "2020-02-01", "2020-03-01"], "2020-01-01", "2020-03-01"),
        ([1990, 1991, 1992], "1990-01-01", "1992-01-01"),
        ([1990.0, 1990 + 1 / 12, 1990 + 2 / 12], "1990-01-01", "1990-03-01"),
        (["1990", "1991", "1992"], "1990-01-01", "1992-01-01"),
        ([1990.0, 1990.25, 1990.5], "1990-01-01", "1990-07-01"),
    ],
)
def test_parse_times_reads_dates_and_years(values: list, first: str, last: str) -> None:
    parsed = series.parse_times(pd.Series(values), "t")
    assert str(parsed.iloc[0].date()) == first and str(parsed.iloc[-1].date()) == last


@pytest.mark.parametrize(
    ("values", "says"),
    [
        (["2020-01-01", "not a date", "2020-03-01"], "not dates; the first at row 1"),
        ([1, 2, 3], "not years"),
        (["2020-01-01", None, "2020-03-01"], "not dates"),
    ],
)
def test_parse_times_refuses_what_is_not_a_time(values: list, says: str) -> None:
    with pytest.raises(DataError, match=says) as caught:
        series.parse_times(pd.Series(values), "t")
    assert caught.value.field == "data.time"


@pytest.mark.parametrize(
    ("start", "freq", "expected"),
    [("2020-01-01", "MS", "MS"), ("2020-01-01", "D", "D"), ("2020-01-01", "QS", "QS"), ("2000-01-01", "YS", "YS")],
)
def test_infer_frequency(start: str, freq: str, expected: str) -> None:
    times = pd.Series(pd.date_range(start, periods=12, freq=freq))
    assert series.infer_frequency(times) == expected


def test_future_times_continue_the_frequency() -> None:
    after = series.future_times(pd.Timestamp("2001-11-01"), "MS", 3)
    assert [str(t.date()) for t in after] == ["2001-12-01", "2002-01-01", "2002-02-01"]


def _monthly(n: int = 12, start: str = "2020-01-01") -> pd.DataFrame:
    return pd.DataFrame(
        {"month": pd.date_range(start, periods=n, freq="MS").strftime("%Y-%m-%d"), "y": np.arange(n, dtype=float)}
    )


def test_order_rows_sorts_and_says_so() -> None:
    frame = _monthly().iloc[::-1].reset_index(drop=True)
    ordered = series.order_rows(frame, "month", None, ["y"])
    assert ordered.frame["y"].tolist() == list(range(12))
    assert ordered.frequency == "MS"
    assert any("sorted" in note for note in ordered.notes)


def test_order_rows_refuses_unsorted_rows_when_asked() -> None:
    frame = _monthly().iloc[[0, 2, 1, 3]].reset_index(drop=True)
    with pytest.raises(DataError, match="not in time order") as caught:
        series.order_rows(frame, "month", None, ["y"], sort=False)
    assert caught.value.field == "--data"


def test_duplicated_times_are_refused() -> None:
    frame = pd.concat([_monthly(), _monthly().iloc[[3]]], ignore_index=True)
    with pytest.raises(DataError, match="repeats '2020-04-01'") as caught:
        series.order_rows(frame, "month", None, ["y"])
    assert "data.series" in (caught.value.hint or "")


def test_gaps_are_filled_by_interpolation_or_refused() -> None:
    frame = _monthly().drop(index=[4, 5]).reset_index(drop=True)
    ordered = series.order_rows(frame, "month", None, ["y"])
    assert len(ordered.frame) == 12
    np.testing.assert_allclose(ordered.frame["y"].to_numpy(), np.arange(12.0))
    assert any("2 missing time step(s) inserted" in note and "2020-05-01" in note for note in ordered.notes)
    with pytest.raises(DataError, match="skips 2 step"):
        series.order_rows(frame, "month", None, ["y"], missing="error")


def test_empty_target_cells_are_interpolated_in_time() -> None:
    frame = _monthly()
    frame.loc[[0, 6], "y"] = np.nan
    ordered = series.order_rows(frame, "month", None, ["y"])
    assert ordered.frame["y"].tolist()[:7] == [1.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]


def test_several_series_keep_their_own_rows() -> None:
    a, b = _monthly(6).assign(store="a"), _monthly(6).assign(store="b", y=lambda f: f["y"] + 100)
    frame = pd.concat([a, b]).sample(frac=1.0, random_state=0).reset_index(drop=True)
    ordered = series.order_rows(frame, "month", "store", ["y"])
    assert ordered.ranges == {"a": (0, 6), "b": (6, 12)}
    assert ordered.frame["y"].tolist() == [*range(6), *range(100, 106)]
    with pytest.raises(DataError, match="series column 'shop' is not in the data"):
        series.order_rows(frame, "month", "shop", ["y"])


def test_calendar_features_are_cycles_of_the_frequency() -> None:
    times = pd.Series(pd.date_range("2020-01-01", periods=24, freq="MS"))
    features = series.calendar_features(times, "MS")
    assert series.calendar_names("MS") == ["month_sin", "month_cos"]
    assert features.shape == (24, 2)
    np.testing.assert_allclose(features[:12], features[12:], atol=1e-6)  # the same month, the same features
    assert series.calendar_names("YS") == [] and series.calendar_features(times, None).shape == (24, 0)
    assert series.calendar_names("D") == ["weekday_sin", "weekday_cos", "yearday_sin", "yearday_cos"]


@pytest.mark.parametrize(
    ("rows", "validation", "test", "bounds"), [(100, 0.15, 0.15, (70, 85)), (100, 24, 12, (64, 88))]
)
def test_time_bounds_take_shares_or_steps(rows: int, validation: float, test: float, bounds: tuple) -> None:
    assert series.time_bounds(rows, validation, test) == bounds


def test_time_bounds_refuse_a_split_without_training_rows() -> None:
    with pytest.raises(DataError, match="no training rows out of the 30 rows of series 'x'"):
        series.time_bounds(30, 24, 12, "x")
