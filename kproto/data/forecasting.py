"""The dataset of a windowed series: rows ordered per series and split in time order before windowing, windows
whose targets lie inside one split, and what the forecasting baselines and metrics need beside the arrays."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from kproto.core import catalog
from kproto.core.errors import DataError
from kproto.data.preprocess import Preprocessor
from kproto.data.series import (
    SINGLE_SERIES,
    OrderedSeries,
    calendar_names,
    describe_times,
    order_rows,
    time_bounds,
)
from kproto.data.types import DataInfo, Dataset
from kproto.data.windows import Windows, cut_windows, drop_unknown, model_inputs, origins_between
from kproto.metrics.forecast import (
    naive_scale,
    season_from_autocorrelation,
    season_from_frequency,
    seasonal_columns,
)

SPLITS = catalog.SPLITS


@dataclass
class ForecastData:
    """Beside a window dataset's arrays: each split's windows with raw values, and the series' facts."""

    windows: dict[str, Windows]
    season: int | None
    season_source: str
    scales: dict[str, float]  # series key → MASE denominator (in-sample seasonal-naive MAE of its training rows)
    horizon: int
    frequency: str | None
    splits: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    baseline_history: dict[str, np.ndarray] = field(default_factory=dict)  # [n, max(length, season)] raw
    target: np.ndarray | None = None  # the raw target of every ordered row
    times: pd.Series | None = None  # their times (None without data.time)
    ranges: dict[str, tuple[int, int]] = field(default_factory=dict)  # series key → its rows
    last_inputs: dict[str, np.ndarray] = field(default_factory=dict)  # series key → its last window's inputs

    def window_scales(self, name: str) -> np.ndarray:
        """The MASE denominator of each window of split `name`."""
        keys = self.windows[name].keys
        return np.asarray([self.scales.get(str(k), np.nan) for k in keys], np.float64)


def window_state(recipe: Any, ordered: OrderedSeries, season: int | None) -> dict[str, Any]:
    """What preprocessing keeps about time and series (preprocess.json)."""
    data = recipe.data
    time: dict[str, Any] = {"column": data.time, "frequency": ordered.frequency, "season": season}
    time["calendar"] = calendar_names(ordered.frequency) if data.time else []
    if data.time is not None and ordered.times is not None and len(ordered.times):
        time["last"] = {key: str(ordered.times.iloc[stop - 1]) for key, (_, stop) in ordered.ranges.items()}
    series = {"column": data.series, "values": [k for k in ordered.ranges if k != SINGLE_SERIES][:10_000]}
    return {"time": time, "series": series}


def _season(recipe: Any, ordered: OrderedSeries, target: np.ndarray, train_ranges: list[tuple[int, int]]) -> tuple:
    window = recipe.data.window
    if window.season is not None:
        return window.season, "data.window.season"
    from_time = season_from_frequency(ordered.frequency)
    if from_time is not None:
        return from_time, f"the frequency of data.time ({ordered.frequency})"
    start, stop = max(train_ranges, key=lambda r: r[1] - r[0])
    found = season_from_autocorrelation(target[start:stop], max_season=min(52, window.length))
    return found, "the autocorrelation of the training rows" if found else "none found"


def window_dataset(
    recipe: Any, frame: pd.DataFrame, covariates: list[str], task: str, pre: Preprocessor | None
) -> Dataset:
    """Order, split per series in time order, fit preprocessing on the training rows, cut windows."""
    data, window = recipe.data, recipe.data.window
    if task != catalog.REGRESSION:
        raise DataError(
            f"windows forecast a numeric target; data.task is {task}",
            field="data.task",
            hint="remove data.task (windows are regression), or drop data.window for a table of rows",
        )
    target_name = data.target
    features = [target_name, *[c for c in covariates if c != target_name]]
    ordered = order_rows(frame, data.time, data.series, features, data.missing)
    target = raw_target_of(ordered.frame, target_name)
    bounds = {}
    for key, (start, stop) in ordered.ranges.items():
        train_end, val_end = time_bounds(stop - start, data.split.validation, data.split.test, key)
        bounds[key] = (start, start + train_end, start + val_end, stop)
    train_rows = np.concatenate([np.arange(s, t) for s, t, _, _ in bounds.values()])
    season, season_source = _season(recipe, ordered, target, [(s, t) for s, t, _, _ in bounds.values()])
    if pre is None:
        pre = Preprocessor.fit(ordered.frame, train_rows, data, task, catalog.WINDOW, features)
        pre.state.update(window_state(recipe, ordered, season))
        if window.normalize == "none":  # raw values in, raw values out
            for column in pre.state["columns"]:
                if column["type"] == "numeric":
                    column.update(mean=0.0, std=1.0)
            pre.state["target"].update(mean=0.0, std=1.0)
    inputs = model_inputs(pre, ordered, data.missing)
    windows, baseline_history = {}, {}
    reach = max(window.length, season or 0)
    for index, name in enumerate(SPLITS):
        origins, keys = [], []
        for key, cuts in bounds.items():
            found = origins_between(
                cuts[0], cuts[3], cuts[index], cuts[index + 1], window.length, window.horizon, window.stride
            )
            origins.append(found)
            keys += [key] * len(found)
        cut = drop_unknown(
            cut_windows(inputs, target, keys, np.concatenate(origins), window.length, window.horizon, known=True)
        )
        windows[name] = cut
        baseline_history[name] = _reach_back(target, cut, bounds, reach)
    if len(windows[catalog.TRAIN].x) == 0:
        shortest = min(t - s for s, t, _, _ in bounds.values())
        raise DataError(
            f"the training rows ({shortest} in the shortest series) are too few for windows of length "
            f"{window.length} + horizon {window.horizon}",
            field="data.window.length",
            hint="use a shorter window or horizon, or hold out fewer steps",
        )
    scales = {key: naive_scale(target[s:t], season) for key, (s, t, _, _) in bounds.items()}
    arrays = {name: (windows[name].x, windows[name].future) for name in SPLITS}
    info = window_info(pre, arrays, task)
    if info.forecast["normalize"] == "window" and info.forecast["linear"]:
        info.forecast["linear_init"] = linear_start(
            (windows["train"].x, windows["train"].future),
            (windows["validation"].x, windows["validation"].future),
            info,
            season,
        )
    dataset = Dataset(*arrays["train"], *arrays["validation"], *arrays["test"], info=info, preprocessor=pre)
    dataset.forecast = ForecastData(
        windows=windows,
        season=season,
        season_source=season_source,
        scales=scales,
        horizon=window.horizon,
        frequency=ordered.frequency,
        splits=_describe_splits(ordered, bounds, window),
        notes=ordered.notes,
        baseline_history=baseline_history,
        target=target,
        times=ordered.times,
        ranges=ordered.ranges,
        last_inputs={
            key: inputs[stop - window.length : stop]
            for key, (start, stop) in ordered.ranges.items()
            if stop - start >= window.length
        },
    )
    dataset.baselines = forecast_baselines(dataset.forecast)
    return dataset


def forecast_baselines(forecast: ForecastData) -> dict[str, dict[str, Any]]:
    """metrics.json's "baselines" of a window run: last value, seasonal naive, linear AR on the test windows."""
    from kproto.metrics.forecast import window_baselines

    train, test = forecast.windows["train"], forecast.windows["test"]
    return window_baselines(
        train.history,
        train.future,
        test.history,
        test.future,
        forecast.baseline_history["test"],
        forecast.season,
        forecast.window_scales("test"),
    )


def raw_target_of(frame: pd.DataFrame, name: str) -> np.ndarray:
    """The target column as floats, with a clear error for text in it."""
    values = pd.to_numeric(frame[name], errors="coerce")
    bad = values.isna() & frame[name].notna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(
            f"the target '{name}' holds numbers, but has the text {str(frame[name].iloc[row])!r}",
            field="data.target",
            hint="a forecast needs a numeric target; fix or empty that cell",
        )
    return values.to_numpy(np.float64)


def _reach_back(target: np.ndarray, windows: Windows, bounds: dict[str, tuple], reach: int) -> np.ndarray:
    """[n, reach] raw target values ending at each window's last row (NaN before its series starts)."""
    out = np.full((len(windows.origins), reach), np.nan)
    for i, (origin, key) in enumerate(zip(windows.origins, windows.keys)):
        start = bounds[str(key)][0]
        first = max(start, origin - reach + 1)
        out[i, reach - (origin - first + 1) :] = target[first : origin + 1]
    return out


def _describe_splits(ordered: OrderedSeries, bounds: dict[str, tuple], window: Any) -> dict[str, Any]:
    """Each split's target rows (of the first series) and the gap between them."""
    key = next(iter(bounds))
    start, train_end, val_end, stop = bounds[key]
    times = ordered.times
    described: dict[str, Any] = {
        "series": None if key == SINGLE_SERIES else key,
        "train": describe_times(times, start, train_end),
        "validation": describe_times(times, train_end, val_end),
        "test": describe_times(times, val_end, stop),
        "gap_steps": 0,
        "rule": f"split in time order on each series' rows before windowing; a window belongs to the split that "
        f"holds all {window.horizon} of its target step(s), and its {window.length} input rows may reach back "
        "into earlier splits (values known by then); no target is shared between splits",
    }
    if len(bounds) > 1:
        described["series_count"] = len(bounds)
    return described


def relative_windows(x: np.ndarray, channel: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """NumPy twin of kproto.models.layers.WindowNormalize on the target channel: (relative history [n, length],
    last value [n, 1], scale [n, 1]), all in the channel's scaled units."""
    values = np.asarray(x, np.float64)[:, :, channel]
    last = values[:, -1:]
    scale = (np.mean(np.abs(np.diff(values, axis=1)), axis=1, keepdims=True) if values.shape[1] > 1 else 1.0) + 1e-3
    return (values - last) / scale, last, np.broadcast_to(scale, last.shape)


BIAS_PENALTY = 0.01  # the bias's share of the ridge strength
LINEAR_PENALTIES = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0, 1000.0)  # ridge strengths tried for the linear start


def _reference_kernel(length: int, horizon: int, season: int | None) -> np.ndarray:
    """[length, horizon] weights of the seasonal-naive forecast on relative histories (zero: the last value)."""
    kernel = np.zeros((length, horizon))
    if season and 1 < season <= length:
        kernel[seasonal_columns(length, horizon, season), np.arange(horizon)] = 1.0
    return kernel


def _ridge(design: np.ndarray, target: np.ndarray, reference: np.ndarray, l2: float) -> np.ndarray:
    """[length + 1, horizon]: least squares shrunk towards `reference` (the bias towards zero, more weakly: a
    drift is common)."""
    start = np.vstack([reference, np.zeros((1, reference.shape[1]))])
    residual = target - design @ start
    penalty = l2 * len(design) * np.eye(design.shape[1])
    penalty[-1, -1] *= BIAS_PENALTY
    return start + np.linalg.solve(design.T @ design + penalty, design.T @ residual)


def linear_start(
    train: tuple[np.ndarray, np.ndarray], validation: tuple[np.ndarray, np.ndarray], info: DataInfo, season: int | None
) -> dict[str, Any]:
    """The starting weights of the forecaster's linear path: ridge regression from each training window's relative
    history to its relative future, shrunk towards the last value or the seasonal-naive forecast.

    The reference and the strength are the pair with the lowest MAE on held-back windows: the validation windows
    and the latest quarter of the training windows, forecast by a fit on the earlier training windows. The chosen
    pair is then fitted on every training window. The network learns what the linear forecast misses.
    """

    def prepared(x: np.ndarray, future: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        relative, last, scale = relative_windows(x)
        target = ((np.asarray(future, np.float64) - info.target_mean) / info.target_std - last) / scale
        return np.hstack([relative, np.ones((len(relative), 1))]), target, scale

    design, target, scale = prepared(*train)
    length, horizon = design.shape[1] - 1, target.shape[1]
    references = {"last value": _reference_kernel(length, horizon, None)}
    if season and 1 < season <= length:
        references["seasonal naive"] = _reference_kernel(length, horizon, season)
    held = max(1, len(design) // 4) if len(design) >= 4 else 0
    fit_design, fit_target = design[: len(design) - held], target[: len(design) - held]
    check = [(design[len(design) - held :], target[len(design) - held :], scale[len(design) - held :])]
    if len(validation[0]):
        check.append(prepared(*validation))
    check_design = np.vstack([c[0] for c in check])
    check_target = np.vstack([c[1] for c in check])
    check_scale = np.vstack([c[2] for c in check])
    best: tuple[float, str, float] | None = None
    for name, reference in references.items():
        for l2 in LINEAR_PENALTIES:
            if len(check_design) and len(fit_design):
                weights = _ridge(fit_design, fit_target, reference, l2)
                error = float(np.mean(np.abs(check_design @ weights - check_target) * check_scale))
            else:
                error = 0.0 if (name, l2) == ("last value", 1e-1) else math.inf
            if best is None or error < best[0] - 1e-12:
                best = (error, name, l2)
    assert best is not None
    error, name, l2 = best
    weights = _ridge(design, target, references[name], l2)
    return {
        "kernel": weights[:-1].tolist(),
        "bias": weights[-1].tolist(),
        "towards": name,
        "l2": l2,
        "held_back_windows": int(len(check_design)),
        "held_back_mae": error if math.isfinite(error) else None,
    }


def window_info(pre: Preprocessor, arrays: dict[str, tuple], task: str) -> DataInfo:
    """DataInfo of a window dataset: H outputs and how the model normalises each window."""
    x_train = arrays["train"][0]
    target = pre.state["target"]
    window = pre.state["window"]
    info = DataInfo(task=task, kind=catalog.WINDOW, input_shape=tuple(int(d) for d in x_train.shape[1:]))
    info.rows = {name: int(len(x)) for name, (x, _) in arrays.items()}
    info.target_mean, info.target_std = float(target["mean"]), float(target["std"])
    info.output_dim = int(window["horizon"])
    info.forecast = {
        "normalize": window.get("normalize", "window"),
        "linear": bool(window.get("linear", True)),
        "channel": 0,
        "horizon": int(window["horizon"]),
    }
    return info
