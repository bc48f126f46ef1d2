"""Time series rows for windows: the time column parsed and checked, rows ordered per series, gaps filled or
refused, calendar features, the series' frequency and season, and time steps after the last row.

Everything here works on the raw table before preprocessing; `kproto.data.windows` cuts the windows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from kproto.core.errors import DataError

SINGLE_SERIES = "__all__"  # the series key of a file without data.series


@dataclass
class OrderedSeries:
    """Rows sorted by series and time, with each series' row range and what was done to get there."""

    frame: pd.DataFrame
    ranges: dict[str, tuple[int, int]]  # series key → [start, stop) rows of `frame`
    times: pd.Series | None  # parsed times of `frame` (None without data.time)
    frequency: str | None = None
    notes: list[str] = field(default_factory=list)


def parse_times(column: pd.Series, name: str) -> pd.Series:
    """Dates from a time column: date strings, datetimes, whole years (1990) or decimal years (1990.25)."""
    if pd.api.types.is_datetime64_any_dtype(column.dtype):
        parsed = pd.to_datetime(column)
    elif pd.api.types.is_numeric_dtype(column.dtype):
        parsed = _numeric_times(column, name)
    elif column.notna().any() and pd.to_numeric(column.dropna(), errors="coerce").notna().all():
        parsed = _numeric_times(pd.to_numeric(column, errors="coerce"), name)  # years sent as text ("1990")
    else:
        try:
            parsed = pd.to_datetime(column, errors="coerce", format="mixed")
        except (TypeError, ValueError):
            parsed = pd.to_datetime(column, errors="coerce")
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_convert(None)
    bad = parsed.isna()
    if bad.any():
        row = column.index[int(np.flatnonzero(bad.to_numpy())[0])]
        raise DataError(
            f"the time column '{name}' has {int(bad.sum())} value(s) that are not dates; the first at row {row}: "
            f"{column.loc[row]!r}",
            field="data.time",
            hint="write dates as YYYY-MM-DD (or whole years), and fill or drop rows without a time",
        )
    return parsed


def _numeric_times(column: pd.Series, name: str) -> pd.Series:
    values = pd.to_numeric(column, errors="coerce").astype(float)
    finite = values.dropna()
    if finite.empty or not ((finite >= 1000) & (finite < 3000)).all():
        raise DataError(
            f"the time column '{name}' holds numbers that are not years (e.g. {finite.iloc[0] if len(finite) else None!r})",
            field="data.time",
            hint="give dates as YYYY-MM-DD strings, whole years such as 1990, or decimal years such as 1990.25",
        )
    years = np.floor(values)
    fraction = values - years
    if np.allclose(fraction.dropna(), 0.0):
        months = pd.Series(np.zeros(len(values)), index=values.index)
    else:  # decimal years (R's ts time): the month the fraction falls in
        months = np.round(fraction * 12.0)
    text = years.astype("Int64").astype(str) + "-" + (months.astype("Int64") + 1).astype(str).str.zfill(2) + "-01"
    return pd.to_datetime(text.where(values.notna()), errors="coerce")


def infer_frequency(times: pd.Series) -> str | None:
    """The pandas frequency of sorted times ("MS", "D", "YS", ...), or the commonest step when it is irregular."""
    unique = pd.DatetimeIndex(times.drop_duplicates())
    if len(unique) < 3:
        return None
    try:
        frequency = pd.infer_freq(unique)
    except (TypeError, ValueError):
        frequency = None
    if frequency is not None:
        return _plain_frequency(frequency)
    steps = pd.Series(unique[1:] - unique[:-1])
    common = steps.mode().iloc[0]
    days = common / pd.Timedelta(days=1)
    for low, high, code in ((27, 32, "MS"), (88, 93, "QS"), (364, 367, "YS"), (7, 7, "W"), (1, 1, "D")):
        if low <= days <= high:
            if code in ("MS", "QS", "YS") and not (unique.day == 1).all():
                return {"MS": "ME", "QS": "QE", "YS": "YE"}[code]
            return code
    return pd.tseries.frequencies.to_offset(common).freqstr


def _plain_frequency(frequency: str) -> str:
    """Anchored frequencies as their plain alias ("QS-OCT" → "QS", "YS-JAN" → "YS", "W-SUN" → "W")."""
    head = frequency.split("-")[0]
    return head if head in ("QS", "QE", "Q", "YS", "YE", "Y", "AS", "A", "W", "BQS", "BYS") else frequency


def step_offset(frequency: str) -> pd.DateOffset:
    """One time step of `frequency` as an offset."""
    return pd.tseries.frequencies.to_offset(frequency)


def future_times(last: pd.Timestamp, frequency: str, steps: int) -> pd.DatetimeIndex:
    """The `steps` times after `last`, at `frequency`."""
    return pd.date_range(start=last, periods=steps + 1, freq=frequency)[1:]


# ----------------------------------------------------------------------------- calendar features
CALENDAR = {  # frequency class → (feature name, the value, its period)
    "month": (("month", lambda t: t.dt.month - 1, 12),),
    "week": (("week", lambda t: t.dt.isocalendar().week.astype(int) - 1, 52),),
    "day": (("weekday", lambda t: t.dt.dayofweek, 7), ("yearday", lambda t: t.dt.dayofyear - 1, 365.25)),
    "hour": (("hour", lambda t: t.dt.hour, 24), ("weekday", lambda t: t.dt.dayofweek, 7)),
}


def calendar_class(frequency: str | None) -> str | None:
    """Which calendar features a frequency gets (None for yearly or unknown steps)."""
    if not frequency:
        return None
    code = frequency.lstrip("0123456789").split("-")[0].upper()
    if code.startswith(("M", "BM", "Q", "BQ")):
        return "month"
    if code.startswith("W"):
        return "week"
    if code in ("D", "B", "C"):
        return "day"
    if code in ("H", "BH", "T", "MIN", "S"):
        return "hour"
    return None


def calendar_names(frequency: str | None) -> list[str]:
    """The calendar feature columns a frequency adds (a sine and a cosine per cycle)."""
    kind = calendar_class(frequency)
    if kind is None:
        return []
    return [f"{name}_{part}" for name, _, _ in CALENDAR[kind] for part in ("sin", "cos")]


def calendar_features(times: pd.Series, frequency: str | None) -> np.ndarray:
    """[rows, features]: each calendar cycle (month of year, day of week, ...) as a sine and a cosine."""
    kind = calendar_class(frequency)
    if kind is None:
        return np.zeros((len(times), 0), np.float32)
    times = pd.Series(pd.to_datetime(times)).reset_index(drop=True)
    blocks = []
    for _, value, period in CALENDAR[kind]:
        angle = 2 * np.pi * np.asarray(value(times), np.float64) / period
        blocks += [np.sin(angle), np.cos(angle)]
    return np.stack(blocks, axis=1).astype(np.float32)


# ----------------------------------------------------------------------------- ordering and checks
def series_keys(frame: pd.DataFrame, series: str | None) -> pd.Series:
    """Each row's series as a string (one key for every row without data.series)."""
    if series is None:
        return pd.Series(SINGLE_SERIES, index=frame.index)
    if series not in frame.columns:
        raise DataError(
            f"the series column '{series}' is not in the data",
            field="data.series",
            hint=f"the file has: {', '.join(map(str, list(frame.columns)[:15]))}",
        )
    keys = frame[series]
    if keys.isna().any():
        row = keys.index[int(np.flatnonzero(keys.isna().to_numpy())[0])]
        raise DataError(f"the series column '{series}' is empty at row {row}", field="data.series")
    return keys.astype(str)


def order_rows(
    frame: pd.DataFrame,
    time: str | None,
    series: str | None,
    value_columns: list[str],
    missing: str = "impute",
    frequency: str | None = None,
    sort: bool = True,
) -> OrderedSeries:
    """Rows grouped by series and sorted by time (kept in file order without data.time).

    Duplicated times within a series are refused. A missing time step is inserted and its values interpolated
    (`missing: impute`) or refused (`missing: error`). `sort=False` refuses unsorted rows instead of sorting them.
    """
    keys = series_keys(frame, series)
    if time is None:
        frame = frame.assign(**{"__series__": keys.to_numpy()})
        order = np.argsort(pd.Categorical(keys, categories=pd.unique(keys)).codes, kind="stable")
        ordered = frame.iloc[order].reset_index(drop=True)
        ranges = _ranges(ordered["__series__"])
        ordered = ordered.drop(columns="__series__")
        notes: list[str] = []
        _interpolate_cells(ordered, ranges, value_columns, missing, notes)
        return OrderedSeries(ordered, ranges, None, None, notes)
    if time not in frame.columns:
        raise DataError(
            f"the time column '{time}' is not in the data",
            field="data.time",
            hint=f"the file has: {', '.join(map(str, list(frame.columns)[:15]))}",
        )
    times = parse_times(frame[time], time)
    notes = []
    work = pd.DataFrame({"key": keys.to_numpy(), "t": times.to_numpy(), "row": np.arange(len(frame))})
    _refuse_duplicates(work, frame, time, series)
    if not sort:
        _refuse_unsorted(work, frame, time)
    sorted_work = work.sort_values(["key", "t"], kind="stable")
    if not np.array_equal(sorted_work["row"].to_numpy(), work["row"].to_numpy()):
        notes.append(f"rows sorted by {'series and ' if series else ''}time")
    ordered = frame.iloc[sorted_work["row"].to_numpy()].reset_index(drop=True)
    ordered_times = pd.Series(sorted_work["t"].to_numpy())
    ordered_keys = pd.Series(sorted_work["key"].to_numpy())
    if frequency is None:
        longest = ordered_keys.value_counts().index[0]
        frequency = infer_frequency(ordered_times[ordered_keys == longest])
    if frequency is not None:
        ordered, ordered_times, ordered_keys, filled = _fill_gaps(
            ordered, ordered_times, ordered_keys, frequency, time, series, value_columns, missing
        )
        if filled:
            notes.append(filled)
    ordered[time] = ordered_times.to_numpy()
    ranges = _ranges(ordered_keys)
    _interpolate_cells(ordered, ranges, value_columns, missing, notes)
    return OrderedSeries(ordered, ranges, ordered_times, frequency, notes)


def _interpolate_cells(
    frame: pd.DataFrame, ranges: dict[str, tuple[int, int]], columns: list[str], missing: str, notes: list[str]
) -> None:
    """Empty numeric cells of each series: interpolated in time (the ends take the nearest value)."""
    empty = [
        c for c in columns if c in frame and pd.api.types.is_numeric_dtype(frame[c].dtype) and frame[c].isna().any()
    ]
    if not empty:
        return
    if missing == "error":
        column = empty[0]
        row = int(np.flatnonzero(frame[column].isna().to_numpy())[0])
        raise DataError(
            f"column '{column}' has a missing value at row {row} (after ordering by time)",
            field="data.missing",
            hint="set data.missing: impute to interpolate it from its neighbours in time",
        )
    for column in empty:
        count = int(frame[column].isna().sum())
        for start, stop in ranges.values():
            block = frame[column].iloc[start:stop].interpolate(method="linear", limit_area="inside").ffill().bfill()
            frame.loc[frame.index[start:stop], column] = block.to_numpy()
        notes.append(f"{count} empty value(s) of '{column}' interpolated in time")


def _ranges(keys: pd.Series) -> dict[str, tuple[int, int]]:
    values = keys.to_numpy()
    ranges: dict[str, tuple[int, int]] = {}
    start = 0
    for i in range(1, len(values) + 1):
        if i == len(values) or values[i] != values[start]:
            ranges[str(values[start])] = (start, i)
            start = i
    return ranges


def _refuse_duplicates(work: pd.DataFrame, frame: pd.DataFrame, time: str, series: str | None) -> None:
    duplicated = work.duplicated(["key", "t"], keep=False)
    if not duplicated.any():
        return
    rows = work.loc[duplicated, "row"].to_numpy()[:4]
    where = f" of series {work.loc[duplicated, 'key'].iloc[0]!r}" if series else ""
    raise DataError(
        f"the time column '{time}' repeats {frame[time].iloc[rows[0]]!r}{where} "
        f"({int(duplicated.sum())} rows share a time; first rows {', '.join(map(str, rows))})",
        field="data.time",
        hint="keep one row per time step"
        + ("" if series else ", or name the column that tells several series apart with data.series"),
    )


def _refuse_unsorted(work: pd.DataFrame, frame: pd.DataFrame, time: str) -> None:
    for _, group in work.groupby("key", sort=False):
        steps = np.diff(group["t"].to_numpy().astype("datetime64[ns]").astype(np.int64))
        if (steps < 0).any():
            row = int(group["row"].to_numpy()[int(np.flatnonzero(steps < 0)[0]) + 1])
            raise DataError(
                f"the rows are not in time order: row {row} ({frame[time].iloc[row]!r}) comes after "
                f"{frame[time].iloc[int(group['row'].to_numpy()[int(np.flatnonzero(steps < 0)[0])])]!r}",
                field="--data",
                hint=f"sort the file by '{time}' (oldest first)",
            )


def _fill_gaps(
    ordered: pd.DataFrame,
    times: pd.Series,
    keys: pd.Series,
    frequency: str,
    time: str,
    series: str | None,
    value_columns: list[str],
    missing: str,
) -> tuple[pd.DataFrame, pd.Series, pd.Series, str | None]:
    """Insert missing time steps of each series; interpolate numeric values (`missing: impute`) or refuse."""
    parts, part_times, part_keys, gaps = [], [], [], []
    for key, (start, stop) in _ranges(keys).items():
        block = ordered.iloc[start:stop]
        block_times = pd.DatetimeIndex(times.iloc[start:stop])
        full = pd.date_range(block_times[0], block_times[-1], freq=frequency)
        if not block_times.isin(full).all():  # times off the grid (e.g. mid-month dates in a monthly file)
            off = block_times[~block_times.isin(full)][0]
            raise DataError(
                f"the time column '{time}' has {off.date()} between the steps of its frequency {frequency}",
                field="data.time",
                hint="give one row per time step at a regular frequency (e.g. the first day of each month)",
            )
        absent = full.difference(block_times)
        if len(absent):
            gaps.append((key, absent))
            block = block.set_axis(block_times).reindex(full)
            if series is not None:
                block[series] = block[series].ffill()
            for column in value_columns:
                if column in block and pd.api.types.is_numeric_dtype(block[column].dtype):
                    block[column] = block[column].interpolate(method="linear", limit_area="inside")
                elif column in block:
                    block[column] = block[column].ffill()
            block = block.reset_index(drop=True)
        else:
            block = block.reset_index(drop=True)
        parts.append(block)
        part_times.append(pd.Series(full))
        part_keys.append(pd.Series([key] * len(full)))
    if not gaps:
        return ordered, times, keys, None
    count = sum(len(a) for _, a in gaps)
    key, absent = gaps[0]
    where = f" of series {key!r}" if series else ""
    first = ", ".join(str(t.date()) for t in absent[:3])
    if missing == "error":
        raise DataError(
            f"the time column '{time}' skips {count} step(s) at frequency {frequency}; the first{where}: {first}",
            field="data.time",
            hint="add the missing rows, or set data.missing: impute to insert them with interpolated values",
        )
    note = f"{count} missing time step(s) inserted with interpolated values (first{where}: {first})"
    return (
        pd.concat(parts, ignore_index=True),
        pd.concat(part_times, ignore_index=True),
        pd.concat(part_keys, ignore_index=True),
        note,
    )


def time_bounds(rows: int, validation: float | int, test: float | int, key: str = SINGLE_SERIES) -> tuple[int, int]:
    """Where a series' validation and test rows start: shares of its rows, or whole numbers of time steps."""
    n_test = int(test) if isinstance(test, int) else int(round(rows * test))
    n_val = int(validation) if isinstance(validation, int) else int(round(rows * validation))
    train_end = rows - n_test - n_val
    if train_end <= 0:
        where = "" if key == SINGLE_SERIES else f" of series {key!r}"
        raise DataError(
            f"the split leaves no training rows out of the {rows} rows{where} "
            f"({n_val} validation and {n_test} test steps)",
            field="data.split",
            hint="hold out fewer steps, or use a longer series",
        )
    return train_end, train_end + n_val


def describe_times(times: pd.Series | None, start: int, stop: int) -> dict[str, Any]:
    """The first and last time of rows [start, stop) (or their positions without a time column)."""
    if stop <= start:
        return {"rows": 0}
    if times is None:
        return {"rows": stop - start, "first_row": start, "last_row": stop - 1}
    return {"rows": stop - start, "first": str(times.iloc[start]), "last": str(times.iloc[stop - 1])}
