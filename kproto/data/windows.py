"""Time-series windows: each input is `length` consecutive rows of one series, its targets the `horizon` values
after the window's last row (direct multi-step). Windows never cross series."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from kproto.core.errors import DataError
from kproto.data.preprocess import Preprocessor
from kproto.data.series import OrderedSeries, calendar_features, order_rows


@dataclass
class Windows:
    """Windows cut from ordered rows, with what forecasting needs beside the model inputs."""

    x: np.ndarray  # [n, length, features]: scaled inputs (target first, covariates, calendar features)
    future: np.ndarray | None  # [n, horizon]: the raw target after each window (None when unknown)
    history: np.ndarray  # [n, length]: the raw target inside each window
    keys: np.ndarray  # [n]: each window's series
    origins: np.ndarray  # [n]: the row (of the ordered frame) that ends each window


def model_inputs(pre: Preprocessor, ordered: OrderedSeries, missing: str = "impute") -> np.ndarray:
    """[rows, features] for every ordered row: the scaled columns, then calendar features from the time column."""
    scaled = pre.features(ordered.frame, missing)
    time = pre.state.get("time") or {}
    if ordered.times is not None and time.get("calendar"):
        scaled = np.concatenate([scaled, calendar_features(ordered.times, time.get("frequency"))], axis=1)
    return scaled.astype(np.float32)


def raw_target(pre: Preprocessor, frame: pd.DataFrame) -> np.ndarray:
    """The target column as floats (NaN where empty)."""
    name = pre.state["target"]["name"]
    return pd.to_numeric(frame[name], errors="coerce").to_numpy(np.float64)


def origins_between(
    start: int, stop: int, first_target: int, last_target: int, length: int, horizon: int, stride: int
) -> np.ndarray:
    """Window end rows of a series at rows [start, stop) whose whole history lies in the series and whose targets
    lie in [first_target, last_target); the most recent window is always kept (stride counts back from it)."""
    low = max(start + length - 1, first_target - 1)
    high = min(last_target, stop) - horizon - 1
    if high < low:
        return np.zeros(0, np.int64)
    return np.arange(high, low - 1, -stride)[::-1].astype(np.int64)


def cut_windows(
    inputs: np.ndarray, target: np.ndarray, keys: list[str], origins: np.ndarray, length: int, horizon: int, known: bool
) -> Windows:
    """Gather windows ending at `origins` (rows of `inputs`); `known`: their future targets exist."""
    if len(origins) == 0:
        return Windows(
            np.zeros((0, length, inputs.shape[1]), np.float32),
            np.zeros((0, horizon), np.float32) if known else None,
            np.zeros((0, length)),
            np.asarray([], dtype=object),
            origins,
        )
    history_rows = origins[:, None] - length + 1 + np.arange(length)[None, :]
    future = None
    if known:
        future = target[origins[:, None] + 1 + np.arange(horizon)[None, :]].astype(np.float32)
    return Windows(inputs[history_rows], future, target[history_rows], np.asarray(keys, dtype=object), origins)


def drop_unknown(windows: Windows) -> Windows:
    """Windows whose history or future holds an empty target value are left out."""
    keep = np.isfinite(windows.history).all(axis=1)
    if windows.future is not None:
        keep &= np.isfinite(windows.future).all(axis=1)
    if keep.all():
        return windows
    return Windows(
        windows.x[keep],
        None if windows.future is None else windows.future[keep],
        windows.history[keep],
        windows.keys[keep],
        windows.origins[keep],
    )


def order_for(pre: Preprocessor, frame: pd.DataFrame, missing: str, sort: bool) -> OrderedSeries:
    """New rows ordered as in training (the training frequency; `sort=False` refuses unsorted rows)."""
    time = pre.state.get("time") or {}
    series = (pre.state.get("series") or {}).get("column")
    columns = [c["name"] for c in pre.state.get("columns", [])]
    return order_rows(frame, time.get("column"), series, columns, missing, time.get("frequency"), sort=sort)


def check_window_columns(pre: Preprocessor, frame: pd.DataFrame, flag: str = "--data") -> None:
    """Every column a forecast needs (target, covariates, time, series) is in `frame`."""
    needed = list(pre.state["features"])
    for extra in ((pre.state.get("time") or {}).get("column"), (pre.state.get("series") or {}).get("column")):
        if extra:
            needed.append(extra)
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise DataError(
            f"the data has no column(s) {', '.join(map(repr, missing))}",
            field=flag,
            hint=f"a forecast reads the past of: {', '.join(needed)} (the target's own history is an input)",
        )


def make_windows(
    pre: Preprocessor, frame: pd.DataFrame, length: int, horizon: int, stride: int, missing: str = "impute"
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """(windows [n, length, features], targets [n, horizon], the target's last value in each window) of new rows.

    The rows are ordered by series and time as in training (unsorted rows are refused); every `stride`-th window
    whose targets the rows hold is cut. `length` and `horizon` must be the run's (they size the model).
    """
    if (length, horizon) != (pre.state["window"]["length"], pre.state["window"]["horizon"]):
        raise ValueError("windows of new rows have the run's length and horizon")
    windows = in_sample_windows(pre, frame, missing, stride)
    last = windows.history[:, -1] if len(windows.history) else None
    return windows.x, windows.future, last


def in_sample_windows(pre: Preprocessor, frame: pd.DataFrame, missing: str = "impute", stride: int = 1) -> Windows:
    """Every `stride`-th window of new rows (per series) whose future the rows hold, with that future.

    The window's length and horizon are the run's: the model's input and output sizes.
    """
    check_window_columns(pre, frame)
    window = pre.state["window"]
    length, horizon = window["length"], window["horizon"]
    ordered = order_for(pre, frame, missing, sort=False)
    inputs = model_inputs(pre, ordered, missing)
    target = raw_target(pre, ordered.frame)
    origins, keys = [], []
    for key, (start, stop) in ordered.ranges.items():
        found = origins_between(start, stop, start, stop, length, horizon, stride)
        origins.append(found)
        keys += [key] * len(found)
    all_origins = np.concatenate(origins) if origins else np.zeros(0, np.int64)
    return drop_unknown(cut_windows(inputs, target, keys, all_origins, length, horizon, known=True))


def last_windows(pre: Preprocessor, ordered: OrderedSeries, inputs: np.ndarray, flag: str = "--data") -> Windows:
    """The most recent window of each series (what a forecast of the steps after the file starts from)."""
    length = pre.state["window"]["length"]
    target = raw_target(pre, ordered.frame)
    origins, keys = [], []
    for key, (start, stop) in ordered.ranges.items():
        if stop - start < length:
            where = "" if len(ordered.ranges) == 1 else f" of series {key!r}"
            raise DataError(
                f"a forecast needs the last {length} rows of the series; the data has {stop - start}{where}",
                field=flag,
                hint=f"give at least {length} consecutive rows (the run's data.window.length)",
            )
        origins.append(stop - 1)
        keys.append(key)
    windows = cut_windows(inputs, target, keys, np.asarray(origins, np.int64), length, 1, known=False)
    bad = ~np.isfinite(windows.history).all(axis=1)
    if bad.any():
        raise DataError(
            f"the target is empty throughout the last window of series {windows.keys[int(np.flatnonzero(bad)[0])]!r}",
            field=flag,
            hint="give the target's recent values",
        )
    return windows


def in_sample_frame(pre: Preprocessor, windows: Windows, ordered_times: Any, outputs: np.ndarray) -> pd.DataFrame:
    """One row per window and forecast step: [series], time, step, prediction and the known value."""
    horizon = outputs.shape[1]
    series = (pre.state.get("series") or {}).get("column")
    time_column = (pre.state.get("time") or {}).get("column")
    rows = windows.origins[:, None] + 1 + np.arange(horizon)[None, :]
    frame = pd.DataFrame()
    if series:
        frame[series] = np.repeat(windows.keys, horizon)
    if time_column and ordered_times is not None:
        frame[time_column] = ordered_times.to_numpy()[rows.reshape(-1)]
    else:
        frame["row"] = rows.reshape(-1)
    frame["step"] = np.tile(np.arange(1, horizon + 1), len(windows.origins))
    frame["prediction"] = outputs.reshape(-1)
    if windows.future is not None:
        frame[pre.state["target"]["name"]] = windows.future.reshape(-1)
    return frame
