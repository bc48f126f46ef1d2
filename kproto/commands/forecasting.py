"""Forecasts of a window run: the steps after the last row of new data (`kproto predict --horizon`, serve), and
in-sample forecasts of every window whose future the data holds (`kproto predict` without --horizon)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kproto.core import catalog
from kproto.core.errors import DataError, KprotoError


def _outputs(model: Any, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    return np.asarray(model.predict(x, batch_size=batch_size, verbose=0), np.float64).reshape(len(x), -1)


def check_horizon(pre: Any, horizon: int, coverage: float | None, flag: str = "--horizon") -> None:
    """A horizon the run can forecast: up to its trained horizon directly, beyond it recursively (forecasts fed
    back as history), which needs a run without covariates and gives no intervals."""
    if isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 1:
        raise KprotoError(f"{flag} must be a whole number of steps ≥ 1; received {horizon!r}", field=flag)
    trained = int(pre.state["window"]["horizon"])
    if horizon <= trained:
        return
    covariates = list(pre.state["features"][1:])
    if covariates:
        raise KprotoError(
            f"{flag} {horizon} is beyond the run's horizon of {trained} steps, and the run reads covariates "
            f"({', '.join(covariates)}) whose future values are unknown",
            field=flag,
            hint=f"ask for at most {trained} steps, or train with data.window.horizon: {horizon}",
        )
    if coverage is not None:
        raise KprotoError(
            f"intervals are calibrated for the run's {trained} step(s); {flag} {horizon} goes beyond them",
            field=flag,
            hint=f"ask for at most {trained} steps with --coverage, or train with data.window.horizon: {horizon}",
        )


def forecast_frame(
    model_call: Any,
    pre: Any,
    frame: pd.DataFrame,
    horizon: int,
    conformal: Any = None,
    coverage: float | None = None,
    missing: str = "impute",
    flag: str = "--data",
) -> pd.DataFrame:
    """The `horizon` steps after the last row of each series in `frame`: [series], time, step, prediction and,
    with `coverage`, conformal lower and upper bounds. `model_call` maps windows to [n, trained horizon]."""
    from kproto.data.series import future_times
    from kproto.data.windows import check_window_columns, last_windows, model_inputs, order_for

    check_horizon(pre, horizon, coverage)
    check_window_columns(pre, frame, flag)
    ordered = order_for(pre, frame, missing, sort=False)
    windows = last_windows(pre, ordered, model_inputs(pre, ordered, missing), flag)
    predicted = np.asarray(model_call(windows.x), np.float64).reshape(len(windows.x), -1)
    while predicted.shape[1] < horizon:  # recursive beyond the trained horizon: forecasts become history
        extended = _extend(pre, ordered.frame, ordered.ranges, ordered.times, predicted)
        again = order_for(pre, extended, missing, sort=False)
        windows_next = last_windows(pre, again, model_inputs(pre, again, missing), flag)
        predicted = np.hstack(
            [predicted, np.asarray(model_call(windows_next.x), np.float64).reshape(len(windows.x), -1)]
        )
    predicted = predicted[:, :horizon]
    time = pre.state.get("time") or {}
    series = (pre.state.get("series") or {}).get("column")
    result = pd.DataFrame()
    if series:
        result[series] = np.repeat(windows.keys, horizon)
    if time.get("column") and ordered.times is not None:
        frequency = time.get("frequency")
        if not frequency:
            raise DataError(
                f"the run found no regular frequency in '{time['column']}', so it cannot name the future times",
                field=flag,
            )
        stamps = [future_times(ordered.times.iloc[stop - 1], frequency, horizon) for _, stop in ordered.ranges.values()]
        result[time["column"]] = np.concatenate([np.asarray(s) for s in stamps])
    result["step"] = np.tile(np.arange(1, horizon + 1), len(windows.keys))
    result["prediction"] = predicted.reshape(-1)
    if coverage is not None:
        lower, upper = conformal.step_intervals(predicted, coverage)
        result["lower"], result["upper"] = lower.reshape(-1), upper.reshape(-1)
    return result


def _extend(pre: Any, frame: pd.DataFrame, ranges: dict, times: Any, predicted: np.ndarray) -> pd.DataFrame:
    """Rows of `frame` with each series' forecasts appended as new rows (recursive forecasting)."""
    from kproto.data.series import future_times

    time = pre.state.get("time") or {}
    series = (pre.state.get("series") or {}).get("column")
    target = pre.state["target"]["name"]
    parts = []
    for i, (start, stop) in enumerate(ranges.values()):
        block = frame.iloc[start:stop]
        extra = pd.DataFrame({target: predicted[i]})
        if series:
            extra[series] = block[series].iloc[-1]
        if time.get("column") and times is not None:
            extra[time["column"]] = future_times(times.iloc[stop - 1], time["frequency"], len(predicted[i]))
        parts += [block, extra]
    return pd.concat(parts, ignore_index=True)


def in_sample_forecasts(
    model_call: Any,
    pre: Any,
    frame: pd.DataFrame,
    conformal: Any = None,
    coverage: float | None = None,
    missing: str = "impute",
    flag: str = "--data",
) -> pd.DataFrame:
    """Forecasts of every window whose future the data holds, one row per window and step, labelled with the
    time (or row) each step forecasts and the known value beside it."""
    from kproto.data.windows import check_window_columns, in_sample_frame, in_sample_windows, order_for

    check_window_columns(pre, frame, flag)
    window = pre.state["window"]
    windows = in_sample_windows(pre, frame, missing)
    if len(windows.x) == 0:
        need = window["length"] + window["horizon"]
        raise DataError(
            f"an in-sample forecast needs windows whose next {window['horizon']} value(s) the data holds: at least "
            f"{need} rows per series; the data has {len(frame)}",
            field=flag,
            hint=f"to forecast the steps after the last row, add --horizon H (from as few as {window['length']} rows)",
        )
    outputs = np.asarray(model_call(windows.x), np.float64).reshape(len(windows.x), -1)
    times = order_for(pre, frame, missing, sort=False).times
    result = in_sample_frame(pre, windows, times, outputs)
    if coverage is not None:
        lower, upper = conformal.step_intervals(outputs, coverage)
        result["lower"], result["upper"] = lower.reshape(-1), upper.reshape(-1)
    return result


def forecast_run(
    path: Path, data: Path, horizon: int, coverage: float | None = None, trust: bool = False
) -> pd.DataFrame:
    """`kproto predict RUN --data F --horizon H [--coverage C]`."""
    from kproto.data import Preprocessor
    from kproto.data.readers import read_table
    from kproto.outputs.answers import run_decisions
    from kproto.runs.load import load_keras_model, load_run

    run = load_run(path)
    if run.info.kind != catalog.WINDOW:
        raise KprotoError(
            f"--horizon forecasts the steps after a time series; {run.path} is a {run.info.kind} run",
            field="--horizon",
            hint="train with data.window (and data.time) to forecast, or leave --horizon out",
        )
    pre = Preprocessor.from_dict(run.preprocess)
    check_horizon(pre, horizon, coverage)
    _, conformal = run_decisions(run, coverage)
    model = load_keras_model(run.model_path, trust=trust, compile=False)
    frame = read_table(data)
    return forecast_frame(
        lambda x: _outputs(model, x), pre, frame, horizon, conformal, coverage, run.recipe.data.missing
    )


PLOT_COVERAGE = 0.9  # the interval `kproto plot` draws around the forecast after the data


def forecast_figure(run: Any, model: Any, dataset: Any, path: Path, title: str) -> Path:
    """forecast.png for the first series: its history, the test windows' forecasts (every horizon-th window, so
    they do not overlap) and the forecast of the steps after the data with its 90% conformal interval."""
    from kproto.outputs.answers import read_conformal
    from kproto.report import plots

    data = dataset.forecast
    key, (start, stop) = next(iter(data.ranges.items()))
    horizon = int(data.horizon)
    positions = data.times if data.times is not None else pd.Series(np.arange(len(data.target)))
    shown = max(start, stop - max(8 * horizon, 4 * (data.season or 0), 60))
    history = (positions.iloc[shown:stop].to_numpy(), data.target[shown:stop])
    test = data.windows[catalog.TEST]
    mine = np.flatnonzero(test.keys == key)
    tests = []
    if len(mine):
        drawn = mine[:: max(horizon, 1)]
        outputs = _outputs(model, test.x[drawn])
        for row, values in zip(drawn, outputs):
            origin = int(test.origins[row])
            tests.append((positions.iloc[origin + 1 : origin + 1 + horizon].to_numpy(), values))
    from kproto.data.series import future_times

    last = data.last_inputs.get(key)
    future = None
    if last is not None:
        predicted = _outputs(model, last[None])[0]
        when = (
            future_times(data.times.iloc[stop - 1], data.frequency, horizon)
            if data.times is not None and data.frequency
            else np.arange(stop, stop + horizon)
        )
        future = {"x": np.asarray(when), "prediction": predicted, "lower": None, "upper": None}
        conformal = read_conformal(run.path)
        if conformal is not None:
            lower, upper = conformal.step_intervals(predicted[None], PLOT_COVERAGE)
            future.update(lower=lower[0], upper=upper[0], coverage=PLOT_COVERAGE)
    name = run.recipe.data.target or "target"
    label = title if key == "__all__" else f"{title}, series {key}"
    return plots.forecast(history, tests, path, name, future, label)
