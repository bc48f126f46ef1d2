"""Forecasting baselines and errors in NumPy: last value, seasonal naive, linear autoregression, sMAPE and MASE.

Every forecaster takes `history`, an array [n, length] of a target's raw values (the window each forecast starts
from, oldest first), and returns [n, horizon]: column h-1 is the forecast h steps after the window's last value.
"""

from __future__ import annotations

from typing import Any

import numpy as np

# Observations per season by the first letter of a pandas frequency (after a leading "B" for business frequencies).
SEASON_OF_FREQUENCY = {"h": 24, "D": 7, "W": 52, "M": 12, "Q": 4}


def season_from_frequency(frequency: str | None) -> int | None:
    """The season length implied by a pandas frequency string ("MS", "QS-JAN", "D", ...), or None (yearly, unknown)."""
    if not frequency:
        return None
    code = frequency.split("-")[0].lstrip("0123456789")
    if code == "B":
        return 5
    letter = code[1:2] if code.startswith("B") and len(code) > 1 else code[:1]
    return SEASON_OF_FREQUENCY.get("h" if letter == "H" else letter)


def season_from_autocorrelation(series: np.ndarray, max_season: int = 52, threshold: float = 0.3) -> int | None:
    """The lag (2..max_season) with the highest autocorrelation of the differenced series, when above `threshold`."""
    values = np.diff(np.asarray(series, np.float64).reshape(-1))
    values = values[np.isfinite(values)]
    max_season = min(max_season, len(values) // 3)
    if max_season < 2:
        return None
    values = values - values.mean()
    denominator = float(np.dot(values, values))
    if denominator == 0.0:
        return None
    correlations = [float(np.dot(values[:-lag], values[lag:])) / denominator for lag in range(2, max_season + 1)]
    best = int(np.argmax(correlations))
    return best + 2 if correlations[best] >= threshold else None


def last_value(history: np.ndarray, horizon: int) -> np.ndarray:
    """Every future step equals the window's last value."""
    history = np.asarray(history, np.float64)
    return np.repeat(history[:, -1:], horizon, axis=1)


def seasonal_columns(length: int, horizon: int, season: int) -> list[int]:
    """The window column each future step repeats under the seasonal-naive rule: one season before that step."""
    return [length - season + (step % season) for step in range(horizon)]


def seasonal_naive(history: np.ndarray, horizon: int, season: int) -> np.ndarray:
    """Step h equals the value one season before it (the same month last year); needs windows of ≥ `season` rows."""
    history = np.asarray(history, np.float64)
    length = history.shape[1]
    if season < 1 or season > length:
        raise ValueError(f"a season of {season} needs windows of at least {season} rows (they have {length})")
    return history[:, seasonal_columns(length, horizon, season)]


class LinearAutoregression:
    """Ridge regression from a window's values (relative to its last value) to each future step's change."""

    def __init__(self, l2: float = 1e-3) -> None:
        self.l2 = l2
        self.weights: np.ndarray | None = None

    @staticmethod
    def _design(history: np.ndarray) -> np.ndarray:
        relative = history - history[:, -1:]
        return np.hstack([relative[:, :-1], np.ones((len(history), 1))])

    def fit(self, history: np.ndarray, future: np.ndarray) -> LinearAutoregression:
        """Fit on windows [n, length] and their next values [n, horizon]."""
        history = np.asarray(history, np.float64)
        future = np.asarray(future, np.float64).reshape(len(history), -1)
        design = self._design(history)
        changes = future - history[:, -1:]
        scale = max(float(np.abs(design[:, :-1]).mean()), 1e-12)
        penalty = self.l2 * len(design) * scale**2 * np.eye(design.shape[1])
        penalty[-1, -1] = 0.0
        self.weights = np.linalg.solve(design.T @ design + penalty, design.T @ changes)
        return self

    def predict(self, history: np.ndarray) -> np.ndarray:
        """Forecasts [n, horizon] for windows [n, length]."""
        if self.weights is None:
            raise RuntimeError("fit the autoregression first")
        history = np.asarray(history, np.float64)
        return history[:, -1:] + self._design(history) @ self.weights


def smape(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Symmetric mean absolute percentage error in percent (0–200); pairs that are both zero count as 0."""
    actual = np.asarray(actual, np.float64).reshape(-1)
    forecast = np.asarray(forecast, np.float64).reshape(-1)
    denominator = np.abs(actual) + np.abs(forecast)
    ratio = np.divide(
        2.0 * np.abs(forecast - actual), denominator, out=np.zeros_like(denominator), where=denominator > 0
    )
    return float(100.0 * ratio.mean()) if len(ratio) else float("nan")


def naive_scale(train_series: np.ndarray, season: int | None) -> float:
    """MASE's denominator: the in-sample MAE of the seasonal-naive (or, without a season, last-value) forecast."""
    values = np.asarray(train_series, np.float64).reshape(-1)
    lag = season if season and season < len(values) else 1
    if len(values) <= lag:
        return float("nan")
    return float(np.mean(np.abs(values[lag:] - values[:-lag])))


def mase(actual: np.ndarray, forecast: np.ndarray, scale: float) -> float:
    """Mean absolute scaled error: the forecast's MAE over `naive_scale` of the training series."""
    actual = np.asarray(actual, np.float64).reshape(-1)
    forecast = np.asarray(forecast, np.float64).reshape(-1)
    if not np.isfinite(scale) or scale <= 0:
        return float("nan")
    return float(np.mean(np.abs(actual - forecast)) / scale)


# ----------------------------------------------------------------------------- scores of forecast windows
FORECAST_METRICS = ("mae", "rmse", "smape", "mase")


def forecast_scores(actual: np.ndarray, forecast: np.ndarray, scales: np.ndarray) -> dict[str, Any]:
    """MAE, RMSE, sMAPE and MASE of forecasts [n, horizon], averaged over every window and step, and per step.

    `scales` [n] is each window's MASE denominator (its series' in-sample seasonal-naive MAE).
    """
    if len(actual) == 0:
        return {}
    actual = np.asarray(actual, np.float64).reshape(len(actual), -1)
    forecast = np.asarray(forecast, np.float64).reshape(actual.shape)
    scales = np.asarray(scales, np.float64).reshape(-1)
    errors = forecast - actual
    usable = np.isfinite(scales) & (scales > 0)
    scaled = np.abs(errors[usable]) / scales[usable, None] if usable.any() else np.full((0, actual.shape[1]), np.nan)

    def summary(columns: slice | int) -> dict[str, float]:
        e = errors[:, columns]
        return {
            "mae": float(np.mean(np.abs(e))),
            "rmse": float(np.sqrt(np.mean(e**2))),
            "smape": smape(actual[:, columns], forecast[:, columns]),
            "mase": float(np.mean(scaled[:, columns])) if len(scaled) else float("nan"),
        }

    scores = summary(slice(None))
    scores["per_step"] = [{"step": h + 1, **summary(h)} for h in range(actual.shape[1])]
    return scores


def window_baselines(
    train_history: np.ndarray,
    train_future: np.ndarray,
    test_history: np.ndarray,
    test_future: np.ndarray,
    test_reach: np.ndarray,
    season: int | None,
    scales: np.ndarray,
) -> dict[str, dict[str, float]]:
    """The forecasting baselines on the test windows: last value, seasonal naive (when a season is known and every
    test window reaches back one season) and linear autoregression fitted on the training windows.

    Histories are raw target values [n, length]; `test_reach` [n, max(length, season)] reaches back further for
    the seasonal naive; `scales` [n] are the test windows' MASE denominators. Each baseline gets the averaged
    scores of `forecast_scores` (per step too).
    """
    test_future = np.asarray(test_future, np.float64)
    if len(test_future) == 0:
        return {}
    horizon = test_future.shape[1]
    baselines: dict[str, dict[str, Any]] = {
        "last_value": forecast_scores(test_future, last_value(test_history, horizon), scales)
    }
    if season and season > 1 and np.isfinite(test_reach).all() and test_reach.shape[1] >= season:
        naive = seasonal_naive(test_reach, horizon, season)
        baselines["seasonal_naive"] = forecast_scores(test_future, naive, scales)
    if len(train_history) >= 2:  # ridge: fewer windows than lags still give a (shrunk) fit
        ar = LinearAutoregression().fit(train_history, train_future)
        baselines["linear_ar"] = forecast_scores(test_future, ar.predict(test_history), scales)
    return baselines
