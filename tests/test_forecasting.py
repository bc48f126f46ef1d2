"""Window datasets for forecasting (kproto.data.forecasting and kproto.data.windows) and the forecaster wrapping
(kproto.models.forecaster): small synthetic series with a trend, a season, both, several series, gaps and
duplicates. Nothing here trains."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from kproto.core.errors import DataError, KprotoError


def series_frame(n: int = 96, kind: str = "trend+season", start: str = "2000-01-01", seed: int = 0) -> pd.DataFrame:
    """A monthly series: a rising line, a yearly cycle, or both (with a little noise)."""
    t = np.arange(n, dtype=float)
    rng = np.random.default_rng(seed)
    value = 0.05 * rng.normal(size=n)
    if "trend" in kind:
        value = value + 100.0 + 2.0 * t
    if "season" in kind:
        value = value + 10.0 * np.sin(2 * np.pi * t / 12)
    return pd.DataFrame({"month": pd.date_range(start, periods=n, freq="MS").strftime("%Y-%m-%d"), "y": value})


def recipe_for(path: Path, **window: Any) -> Any:
    from kproto.recipe import recipe_from_dict

    data = {
        "path": str(path),
        "target": "y",
        "time": "month",
        "window": {"length": 24, "horizon": 12, **window},
        "split": {"validation": 24, "test": 12},
    }
    return recipe_from_dict({"data": data, "model": {"type": "gru", "units": [4]}})


def load(tmp_path: Path, frame: pd.DataFrame, **window: Any) -> Any:
    from kproto.data import load_dataset

    frame.to_csv(tmp_path / "series.csv", index=False)
    return load_dataset(recipe_for(tmp_path / "series.csv", **window))


def test_windows_forecast_the_next_horizon_steps_and_split_in_time_order(tmp_path: Path) -> None:
    frame = series_frame(96)
    dataset = load(tmp_path, frame)
    values = frame["y"].to_numpy()
    assert dataset.x_train.shape[1:] == (24, 3)  # the target, then month sine and cosine
    assert dataset.y_train.shape[1] == 12 and dataset.info.output_dim == 12
    # the one test window forecasts the last 12 months from the 24 before them
    assert len(dataset.x_test) == 1
    np.testing.assert_allclose(dataset.y_test[0], values[-12:], rtol=1e-5)
    np.testing.assert_allclose(dataset.forecast.windows["test"].history[0], values[-36:-12])
    # no training target reaches the validation rows (the last 36 rows are validation and test)
    last_train_target = dataset.forecast.windows["train"].origins.max() + 12
    assert last_train_target == 96 - 36 - 1
    splits = dataset.forecast.splits
    assert splits["test"]["first"].startswith("2007-01-01") and splits["gap_steps"] == 0
    assert splits["validation"]["rows"] == 24 and splits["train"]["rows"] == 60


def test_baselines_on_the_same_test_windows(tmp_path: Path) -> None:
    dataset = load(tmp_path, series_frame(96, "season"))
    baselines = dataset.baselines
    assert set(baselines) == {"last_value", "seasonal_naive", "linear_ar"}
    assert dataset.forecast.season == 12 and "frequency" in dataset.forecast.season_source
    for scores in baselines.values():
        assert {"mae", "rmse", "smape", "mase"} <= set(scores) and len(scores["per_step"]) == 12
    # a pure yearly cycle: the same month last year is nearly exact, the last value is not
    assert baselines["seasonal_naive"]["mae"] < 0.2 < baselines["last_value"]["mae"]


def test_a_season_can_be_given_and_is_found_without_a_time_column(tmp_path: Path) -> None:
    from kproto.data import load_dataset
    from kproto.recipe import recipe_from_dict

    dataset = load(tmp_path, series_frame(96, "season"), season=6)
    assert dataset.forecast.season == 6 and dataset.forecast.season_source == "data.window.season"
    series_frame(120, "season").drop(columns="month").to_csv(tmp_path / "plain.csv", index=False)
    recipe = recipe_from_dict(
        {
            "data": {"path": str(tmp_path / "plain.csv"), "target": "y", "window": {"length": 24, "horizon": 3}},
            "model": {"type": "gru"},
        }
    )
    plain = load_dataset(recipe)
    assert plain.forecast.season == 12 and "autocorrelation" in plain.forecast.season_source
    assert plain.x_train.shape[2] == 1  # no calendar features without data.time


def test_several_series_never_share_a_window(tmp_path: Path) -> None:
    from kproto.data import load_dataset
    from kproto.recipe import recipe_from_dict

    a = series_frame(72).assign(store="a")
    b = series_frame(72, seed=1).assign(store="b", y=lambda f: f["y"] + 10_000)
    pd.concat([b, a]).to_csv(tmp_path / "long.csv", index=False)
    recipe = recipe_from_dict(
        {
            "data": {
                "path": str(tmp_path / "long.csv"),
                "target": "y",
                "time": "month",
                "series": "store",
                "window": {"length": 24, "horizon": 6},
                "split": {"validation": 12, "test": 6},
            },
            "model": {"type": "gru"},
        }
    )
    dataset = load_dataset(recipe)
    for name in ("train", "validation", "test"):
        windows = dataset.forecast.windows[name]
        big = windows.history.min(axis=1) > 5_000
        assert np.array_equal(big, windows.keys == "b")  # every window's history is one series'
        assert np.array_equal(windows.future.min(axis=1) > 5_000, windows.keys == "b")
    test = dataset.forecast.windows["test"]
    assert sorted(test.keys.tolist()) == ["a", "b"]  # each series' last 6 months are its test
    assert dataset.preprocessor.state["series"] == {"column": "store", "values": ["a", "b"]}
    assert dataset.forecast.splits["series_count"] == 2


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (lambda f: pd.concat([f, f.iloc[[10]]]), "repeats '2000-11-01'"),
        (lambda f: f.assign(month=f["month"].where(f.index != 5, "someday")), "not dates"),
        (lambda f: f.iloc[:40], "too few for windows of length 24"),
    ],
)
def test_bad_series_are_refused_with_the_field(tmp_path: Path, change: Any, says: str) -> None:
    with pytest.raises(DataError, match=says):
        load(tmp_path, change(series_frame(96)))


def test_gaps_are_filled_and_reported(tmp_path: Path) -> None:
    frame = series_frame(96).drop(index=[30, 31, 32])
    dataset = load(tmp_path, frame)
    assert any("3 missing time step(s) inserted" in note for note in dataset.forecast.notes)
    assert sum(dataset.info.rows.values()) == len(dataset.forecast.windows["train"].x) + 13 + 1


@pytest.mark.parametrize(("normalize", "layer"), [("window", "window_normalize"), ("global", None), ("none", None)])
def test_normalize_choices_build_the_right_model(tmp_path: Path, normalize: str, layer: str | None) -> None:
    from kproto.models import build_model

    dataset = load(tmp_path, series_frame(96), normalize=normalize)
    model = build_model(recipe_for(tmp_path / "series.csv").model, dataset.info)
    names = [layer_.name for layer_ in model.layers]
    assert (layer in names) if layer else ("window_normalize" not in names)
    assert model.output_shape == (None, 12)
    if normalize == "none":
        (column,) = dataset.preprocessor.state["columns"]
        assert column["mean"] == 0.0 and column["std"] == 1.0 and dataset.info.target_std == 1.0


def test_a_trend_is_forecast_beyond_the_training_range_before_any_training(tmp_path: Path) -> None:
    """The linear path starts from ridge regression on the training windows and the network's output at zero: on
    a rising line, the untrained forecaster already follows the trend out of the training range."""
    from kproto.models import build_model

    dataset = load(tmp_path, series_frame(96, "trend"))
    model = build_model(recipe_for(tmp_path / "series.csv").model, dataset.info)
    forecast = np.asarray(model.predict(dataset.x_test, verbose=0))[0]
    training_max = dataset.forecast.windows["train"].future.max()
    assert forecast.min() > training_max  # the whole test year lies above anything seen in training
    assert np.abs(forecast - dataset.y_test[0]).mean() < 1.0  # a slope of 2 per month, followed closely
    assert dataset.info.forecast["linear_init"]["towards"] in ("last value", "seasonal naive")


def test_window_layers_undo_each_other() -> None:
    import keras

    from kproto.models.layers import TargetChannel, WindowNormalize, WindowRestore

    windows = np.stack([np.linspace(0, 5, 8), np.ones(8)], axis=1)[None].astype("float32")  # [1, 8, 2]
    relative = np.asarray(WindowNormalize(0)(windows))
    np.testing.assert_allclose(relative[0, -1, 0], 0.0, atol=1e-6)
    np.testing.assert_allclose(relative[0, :, 1], 1.0)  # other channels untouched
    history = np.asarray(TargetChannel(0)(keras.ops.convert_to_tensor(relative)))
    restored = np.asarray(WindowRestore(0, mean=10.0, std=2.0)([history[:, -3:], windows]))
    np.testing.assert_allclose(restored, 10.0 + 2.0 * windows[0, -3:, 0][None], rtol=1e-4)


def test_recipe_rules_for_time_and_series() -> None:
    from kproto.recipe import recipe_from_dict

    with pytest.raises(KprotoError, match="no data.window"):
        recipe_from_dict({"data": {"path": "x.csv", "target": "y", "time": "month"}, "model": {"type": "gru"}})
    with pytest.raises(KprotoError, match="whole number of held-out rows"):
        recipe_from_dict(
            {"data": {"path": "x.csv", "target": "y", "split": {"test": 12}}, "model": {"type": "feedforward"}}
        )
    with pytest.raises(KprotoError, match="it is not a covariate"):
        recipe_from_dict(
            {
                "data": {"path": "x.csv", "target": "y", "time": "t", "features": ["t"], "window": {"length": 4}},
                "model": {"type": "gru"},
            }
        )


def test_covariates_are_read_beside_the_target(tmp_path: Path) -> None:
    from kproto.data import load_dataset
    from kproto.recipe import recipe_from_dict

    frame = series_frame(96).assign(temperature=lambda f: np.cos(np.arange(len(f))))
    frame.to_csv(tmp_path / "cov.csv", index=False)
    recipe = recipe_from_dict(
        {
            "data": {
                "path": str(tmp_path / "cov.csv"),
                "target": "y",
                "time": "month",
                "features": ["temperature"],
                "window": {"length": 12, "horizon": 3},
            },
            "model": {"type": "gru"},
        }
    )
    dataset = load_dataset(recipe)
    assert dataset.preprocessor.state["features"] == ["y", "temperature"]
    assert dataset.x_train.shape[2] == 4  # target, covariate, month sine and cosine
    column = dataset.preprocessor.state["columns"][1]
    scaled = (frame["temperature"].to_numpy() - column["mean"]) / column["std"]
    np.testing.assert_allclose(dataset.x_train[0, :, 1], scaled[:12], rtol=1e-5)
    from kproto.commands.forecasting import check_horizon

    with pytest.raises(KprotoError, match="covariates"):
        check_horizon(dataset.preprocessor, 4, None)
    check_horizon(dataset.preprocessor, 3, None)


@pytest.mark.parametrize(
    "model",
    [
        {"type": "rnn", "units": [4]},
        {"type": "lstm", "units": [4]},
        {"type": "transformer", "layers": 1, "heads": 2, "key_dim": 4, "embed_dim": 8, "ff_units": 8},
        {"type": "cnn", "filters": [4], "dense": [8]},
        {"type": "feedforward", "units": [8]},
    ],
)
def test_every_sequence_family_becomes_a_forecaster(tmp_path: Path, model: dict[str, Any]) -> None:
    from kproto.models import build_model
    from kproto.recipe import recipe_from_dict

    dataset = load(tmp_path, series_frame(96))
    spec = recipe_from_dict({"data": {"path": "x.csv", "target": "y"}, "model": model}).model
    forecaster = build_model(spec, dataset.info)
    assert forecaster.output_shape == (None, 12)
    assert {"window_normalize", "linear_ar", "forecast"} <= {layer.name for layer in forecaster.layers}
    assert np.isfinite(np.asarray(forecaster.predict(dataset.x_test, verbose=0))).all()
