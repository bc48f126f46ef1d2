"""A window run's forecast scores: MAE, RMSE, sMAPE and MASE per step and averaged on the test windows, beside
the baselines on the same windows and the verdict (metrics.json "forecast", "baselines", "verdict"); and the
per-step conformal scores of the validation windows."""

from __future__ import annotations

from typing import Any

import numpy as np

from kproto.core import catalog


def _forecasts(model: Any, x: np.ndarray, batch_size: int) -> np.ndarray:
    outputs = np.asarray(model.predict(x, batch_size=max(batch_size, 256), verbose=0), np.float64)
    return outputs.reshape(len(x), -1)


def forecast_results(model: Any, dataset: Any, batch_size: int) -> dict[str, Any]:
    """metrics.json entries of a window run: "forecast" (test scores and facts), "baselines" and "verdict"."""
    from kproto.metrics.forecast import forecast_scores
    from kproto.metrics.verdict import verdict

    data = dataset.forecast
    if data is None:
        return {}
    test = data.windows[catalog.TEST]
    facts: dict[str, Any] = {
        "split": "test",
        "windows": int(len(test.x)),
        "horizon": int(data.horizon),
        "frequency": data.frequency,
        "season": data.season,
        "season_from": data.season_source,
        "mase_scale": "in-sample MAE of the seasonal-naive forecast on each series' training rows"
        + ("" if data.season else " (last value: no season)"),
        "splits": data.splits,
    }
    if data.notes:
        facts["notes"] = list(data.notes)
    results: dict[str, Any] = {"baselines": dataset.baselines}
    if len(test.x):
        predicted = _forecasts(model, test.x, batch_size)
        facts.update(forecast_scores(test.future, predicted, data.window_scales("test")))
        decided = verdict("mae", facts["mae"], dataset.baselines, "test")
        if decided is not None:
            results["verdict"] = decided
    results["forecast"] = facts
    return results


def step_scores(model: Any, dataset: Any, batch_size: int) -> np.ndarray | None:
    """|actual − forecast| of every validation window and step [n, horizon], or None without validation windows."""
    data = dataset.forecast
    if data is None or len(data.windows[catalog.VALIDATION].x) == 0:
        return None
    validation = data.windows[catalog.VALIDATION]
    return np.abs(_forecasts(model, validation.x, batch_size) - np.asarray(validation.future, np.float64))
