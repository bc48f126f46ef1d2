"""kproto.metrics.forecast: naive forecasts, the linear autoregression, season detection and errors."""

from __future__ import annotations

import numpy as np
import pytest

from kproto.metrics import forecast
from kproto.metrics.forecast import forecast_scores, smape, window_baselines


def windows(series: np.ndarray, length: int, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    starts = np.arange(len(series) - length - horizon + 1)
    history = series[starts[:, None] + np.arange(length)]
    future = series[starts[:, None] + length + np.arange(horizon)]
    return history, future


def test_last_value_repeats_the_window_end() -> None:
    history = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 9.0]])
    assert forecast.last_value(history, 2).tolist() == [[3.0, 3.0], [9.0, 9.0]]


def test_seasonal_naive_is_exact_on_a_pure_season() -> None:
    series = np.tile(np.arange(12.0), 6)
    history, future = windows(series, 24, 12)
    np.testing.assert_allclose(forecast.seasonal_naive(history, 12, 12), future)


def test_seasonal_naive_refuses_short_windows() -> None:
    with pytest.raises(ValueError, match="season of 12"):
        forecast.seasonal_naive(np.zeros((2, 6)), 3, 12)


def test_linear_autoregression_extrapolates_a_trend() -> None:
    series = 0.5 * np.arange(120.0) + np.sin(np.arange(120.0) * 2 * np.pi / 12)
    history, future = windows(series, 24, 6)
    model = forecast.LinearAutoregression().fit(history[:60], future[:60])
    error = np.abs(model.predict(history[60:]) - future[60:]).mean()
    naive_error = np.abs(forecast.last_value(history[60:], 6) - future[60:]).mean()
    assert error < 0.1 * naive_error


@pytest.mark.parametrize(
    ("frequency", "season"), [("MS", 12), ("M", 12), ("QS-JAN", 4), ("D", 7), ("h", 24), ("YS", None), (None, None)]
)
def test_season_from_frequency(frequency: str | None, season: int | None) -> None:
    assert forecast.season_from_frequency(frequency) == season


def test_season_from_autocorrelation_finds_the_period() -> None:
    rng = np.random.default_rng(0)
    series = np.sin(np.arange(200) * 2 * np.pi / 7) + 0.05 * rng.normal(size=200)
    assert forecast.season_from_autocorrelation(series) == 7
    assert forecast.season_from_autocorrelation(rng.normal(size=200)) is None


def test_smape_and_mase() -> None:
    assert forecast.smape(np.array([1.0, 0.0]), np.array([1.0, 0.0])) == 0.0
    assert forecast.smape(np.array([1.0]), np.array([3.0])) == pytest.approx(100.0)
    scale = forecast.naive_scale(np.array([1.0, 2.0, 3.0, 4.0]), None)
    assert scale == 1.0
    assert forecast.mase(np.array([2.0, 4.0]), np.array([3.0, 4.0]), scale) == pytest.approx(0.5)
    assert np.isnan(forecast.mase(np.array([1.0]), np.array([1.0]), 0.0))


# ----------------------------------------------------------------------------- scores of forecast windows
def test_forecast_scores_average_and_per_step() -> None:
    actual = np.array([[10.0, 20.0], [10.0, 20.0]])
    forecast = np.array([[11.0, 20.0], [9.0, 24.0]])
    scores = forecast_scores(actual, forecast, np.array([1.0, 2.0]))
    assert scores["mae"] == pytest.approx(6.0 / 4)
    assert scores["rmse"] == pytest.approx(np.sqrt((1 + 0 + 1 + 16) / 4))
    assert scores["mase"] == pytest.approx((1 / 1 + 0 / 1 + 1 / 2 + 4 / 2) / 4)
    first, second = scores["per_step"]
    assert first == {"step": 1, "mae": 1.0, "rmse": 1.0, "smape": pytest.approx(smape([10, 10], [11, 9])), "mase": 0.75}
    assert second["mae"] == 2.0 and second["rmse"] == pytest.approx(np.sqrt(8.0))
    assert forecast_scores(np.zeros((0, 2)), np.zeros((0, 2)), np.zeros(0)) == {}


def test_window_baselines_on_a_seasonal_series() -> None:
    t = np.arange(120, dtype=float)
    series = 50 + 10 * np.sin(2 * np.pi * t / 12)
    length, horizon = 24, 6
    origins = np.arange(length - 1, 120 - horizon)
    history = np.stack([series[o - length + 1 : o + 1] for o in origins])
    future = np.stack([series[o + 1 : o + 1 + horizon] for o in origins])
    train, test = slice(0, 80), slice(80, None)
    scales = np.ones(len(history[test]))
    baselines = window_baselines(history[train], future[train], history[test], future[test], history[test], 12, scales)
    assert set(baselines) == {"last_value", "seasonal_naive", "linear_ar"}
    assert baselines["seasonal_naive"]["mae"] == pytest.approx(0.0, abs=1e-9)
    assert baselines["linear_ar"]["mae"] < 0.1 < baselines["last_value"]["mae"]
    no_season = window_baselines(
        history[train], future[train], history[test], future[test], history[test], None, scales
    )
    assert "seasonal_naive" not in no_season
