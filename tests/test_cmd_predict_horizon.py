"""`kproto predict --horizon` and serve's forecasts: the steps after the last row of each series with their times,
per-step conformal intervals, in-sample forecasts labelled with their times, and bad input refused with exit 2."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from helpers import assert_refused, metrics, untrained_run

from kproto.cli import cli

RECIPE = """
name: tiny-forecast
seed: 3
data:
  path: series.csv
  target: y
  time: month
  window: {length: 12, horizon: 6}
  split: {validation: 18, test: 6}
model: {type: gru, units: [4]}
train: {epochs: 2, batch_size: 16, loss: mae}
"""


def series(n: int = 72, start: str = "2000-01-01") -> pd.DataFrame:
    """A monthly trend with a yearly cycle."""
    t = np.arange(n, dtype=float)
    value = 100 + 1.5 * t + 8 * np.sin(2 * np.pi * t / 12)
    return pd.DataFrame({"month": pd.date_range(start, periods=n, freq="MS").strftime("%Y-%m-%d"), "y": value})


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run of the tiny series, built without training."""
    folder = tmp_path_factory.mktemp("forecast")
    series().to_csv(folder / "series.csv", index=False)
    (folder / "recipe.yaml").write_text(RECIPE)
    return untrained_run(folder / "recipe.yaml", folder / "runs")


def _write(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_csv(path, index=False)
    return path


def test_horizon_forecasts_the_months_after_one_window(run: Path, runner: CliRunner, tmp_path: Path) -> None:
    rows = _write(series().tail(12), tmp_path / "last.csv")  # exactly one window of history
    result = runner.invoke(cli, ["predict", str(run), "--data", str(rows), "--horizon", "3"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert lines[0] == "month,step,prediction"
    assert [line.split(",")[:2] for line in lines[1:]] == [
        ["2006-01-01", "1"],
        ["2006-02-01", "2"],
        ["2006-03-01", "3"],
    ]


def test_beyond_the_trained_horizon_forecasts_recursively(run: Path, runner: CliRunner, tmp_path: Path) -> None:
    rows = _write(series().tail(20), tmp_path / "last.csv")
    result = runner.invoke(cli, ["predict", str(run), "--data", str(rows), "--horizon", "9"])
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(pd.io.common.StringIO(result.stdout))
    assert frame["step"].tolist() == list(range(1, 10)) and frame["month"].iloc[-1] == "2006-09-01"
    assert np.isfinite(frame["prediction"]).all()


def test_without_horizon_each_forecast_is_labelled_with_its_time(run: Path, runner: CliRunner, tmp_path: Path) -> None:
    rows = _write(series().tail(20), tmp_path / "known.csv")  # 20 rows: 3 windows of 12 whose next 6 are known
    result = runner.invoke(cli, ["predict", str(run), "--data", str(rows)])
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(pd.io.common.StringIO(result.stdout))
    assert list(frame.columns) == ["month", "step", "prediction", "y"]
    assert len(frame) == 3 * 6
    assert frame["month"].iloc[0] == "2005-05-01" and frame["month"].iloc[-1] == "2005-12-01"
    np.testing.assert_allclose(frame["y"].iloc[:6], series()["y"].to_numpy()[-8:-2], rtol=1e-5)


@pytest.mark.parametrize(
    ("change", "args", "says"),
    [
        (lambda f: f.tail(12), [], "add --horizon H"),  # one window: nothing known to compare with
        (lambda f: f.tail(5), ["--horizon", "3"], "needs the last 12 rows of the series; the data has 5"),
        (lambda f: f.drop(columns="y"), ["--horizon", "3"], "no column(s) 'y'"),
        (lambda f: f.drop(columns="y"), [], "no column(s) 'y'"),
        (lambda f: f.drop(columns="month"), ["--horizon", "3"], "no column(s) 'month'"),
        (lambda f: f.tail(20).iloc[::-1], ["--horizon", "3"], "not in time order"),
        (lambda f: pd.concat([f.tail(20), f.tail(1)]), ["--horizon", "3"], "repeats '2005-12-01'"),
        (lambda f: f.tail(20), ["--horizon", "9", "--coverage", "0.9"], "intervals are calibrated for the run's 6"),
    ],
)
def test_bad_input_exits_2_with_a_clear_message(
    run: Path, runner: CliRunner, tmp_path: Path, change, args: list[str], says: str
) -> None:
    rows = _write(change(series()), tmp_path / "rows.csv")
    assert_refused(runner.invoke(cli, ["predict", str(run), "--data", str(rows), *args]), says)


def test_horizon_on_a_table_run_is_refused(runner: CliRunner, tmp_path: Path, tiny_run: Callable[[Path], Path]) -> None:
    from helpers import tiny_frame

    table_run = tiny_run(tmp_path / "table")
    rows = _write(tiny_frame(5, 1), tmp_path / "rows.csv")
    assert_refused(
        runner.invoke(cli, ["predict", str(table_run), "--data", str(rows), "--horizon", "3"]),
        "--horizon forecasts the steps after a time series",
    )


@pytest.mark.slow
def test_train_predict_horizon_and_serve(tmp_path: Path, runner: CliRunner) -> None:
    """End to end: train a tiny forecaster, forecast with intervals, draw it, and serve the same forecasts."""
    from fastapi.testclient import TestClient

    from kproto.serve.app import create_app
    from kproto.serve.predictor import load_predictor

    series(84).to_csv(tmp_path / "series.csv", index=False)
    (tmp_path / "recipe.yaml").write_text(RECIPE)
    result = runner.invoke(
        cli, ["train", str(tmp_path / "recipe.yaml"), "--backend", "tensorflow", "--out", str(tmp_path / "runs")]
    )
    assert result.exit_code == 0, result.output
    assert "linear ar" in result.output and "seasonal naive" in result.output
    (trained,) = (tmp_path / "runs").glob("*/*/")
    scores = metrics(trained)
    assert set(scores["baselines"]) == {"last_value", "seasonal_naive", "linear_ar"}
    assert scores["verdict"]["best_baseline"] in scores["baselines"]
    assert len(scores["forecast"]["per_step"]) == 6 and scores["forecast"]["season"] == 12
    rows = _write(series(84).tail(12), tmp_path / "last.csv")
    out = runner.invoke(cli, ["predict", str(trained), "--data", str(rows), "--horizon", "6", "--coverage", "0.9"])
    assert out.exit_code == 0, out.output
    frame = pd.read_csv(pd.io.common.StringIO(out.stdout))
    assert list(frame.columns) == ["month", "step", "prediction", "lower", "upper"]
    assert (frame["lower"] <= frame["prediction"]).all() and (frame["prediction"] <= frame["upper"]).all()
    assert frame["month"].iloc[0] == "2007-01-01"
    known = _write(series(84).tail(20), tmp_path / "known.csv")
    in_sample = runner.invoke(cli, ["predict", str(trained), "--data", str(known), "--coverage", "0.9"])
    assert in_sample.exit_code == 0, in_sample.output
    assert in_sample.stdout.splitlines()[0] == "month,step,prediction,y,lower,upper"
    plotted = runner.invoke(cli, ["plot", str(trained)])
    assert plotted.exit_code == 0 and (trained / "forecast.png").stat().st_size > 1000
    body = {"rows": series(84).tail(12).to_dict("records"), "horizon": 6}
    with TestClient(create_app(load_predictor(trained))) as client:
        answer = client.post("/forecast?coverage=0.9", json=body)
        assert answer.status_code == 200, answer.text
        forecasts = answer.json()["forecasts"]
        assert [f["month"] for f in forecasts][:2] == ["2007-01-01", "2007-02-01"]
        np.testing.assert_allclose([f["prediction"] for f in forecasts], frame["prediction"], rtol=1e-4)
        np.testing.assert_allclose([f["upper"] for f in forecasts], frame["upper"], rtol=1e-4)
        same = client.post("/predict?coverage=0.9", json=body)
        assert same.status_code == 200 and same.json()["forecasts"] == forecasts
        short = client.post("/forecast", json={"rows": body["rows"][:4]})
        assert short.status_code == 422 and "needs the last 12 rows" in short.json()["error"]["message"]


LONG_RECIPE = RECIPE.replace("  time: month\n", "  time: month\n  series: store\n").replace("tiny-forecast", "stores")


def stores() -> pd.DataFrame:
    """Two stores' monthly series in one long file, the second ten times larger."""
    a = series(60).assign(store="north")
    b = series(60).assign(store="south", y=lambda f: f["y"] * 10)
    return pd.concat([a, b], ignore_index=True)


@pytest.fixture(scope="module")
def stores_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("stores")
    stores().to_csv(folder / "series.csv", index=False)
    (folder / "recipe.yaml").write_text(LONG_RECIPE)
    return untrained_run(folder / "recipe.yaml", folder / "runs")


def test_several_series_get_their_own_forecasts(stores_run: Path, runner: CliRunner, tmp_path: Path) -> None:
    frame = stores()
    recent = pd.concat([frame[frame["store"] == s].tail(14) for s in ("south", "north")])
    rows = _write(recent, tmp_path / "recent.csv")
    result = runner.invoke(cli, ["predict", str(stores_run), "--data", str(rows), "--horizon", "2"])
    assert result.exit_code == 0, result.output
    forecasts = pd.read_csv(pd.io.common.StringIO(result.stdout))
    assert list(forecasts.columns) == ["store", "month", "step", "prediction"]
    assert forecasts["store"].tolist() == ["north", "north", "south", "south"]
    assert forecasts["month"].tolist() == ["2005-01-01", "2005-02-01"] * 2
    short = pd.concat([frame[frame["store"] == "north"].tail(14), frame[frame["store"] == "south"].tail(3)])
    assert_refused(
        runner.invoke(
            cli, ["predict", str(stores_run), "--data", str(_write(short, tmp_path / "s.csv")), "--horizon", "2"]
        ),
        "the data has 3 of series 'south'",
    )


def test_serve_answers_forecasts_and_refuses_bad_requests(run: Path) -> None:
    from fastapi.testclient import TestClient

    from kproto.serve.app import create_app
    from kproto.serve.predictor import load_predictor

    rows = series().tail(12).to_dict("records")
    with TestClient(create_app(load_predictor(run))) as client:
        answer = client.post("/forecast", json={"rows": rows, "horizon": 2})
        assert answer.status_code == 200, answer.text
        assert [(f["month"], f["step"]) for f in answer.json()["forecasts"]] == [("2006-01-01", 1), ("2006-02-01", 2)]
        default = client.post("/forecast", json={"rows": rows}).json()["forecasts"]
        assert len(default) == 6  # the run's own horizon
        csv = series().tail(12).to_csv(index=False)
        by_csv = client.post("/forecast?horizon=2", content=csv, headers={"content-type": "text/csv"})
        assert by_csv.status_code == 200 and by_csv.json() == answer.json()
        for body, says in (
            ({"rows": rows, "horizon": 0}, "horizon must be a whole number"),
            ({"rows": rows, "horizon": "soon"}, "horizon must be a whole number"),
            ({"rows": rows[:3], "horizon": 2}, "needs the last 12 rows"),
            ({"rows": rows[::-1], "horizon": 2}, "not in time order"),
        ):
            refused = client.post("/forecast", json=body)
            assert refused.status_code == 422 and says in refused.json()["error"]["message"], refused.text
        assert client.get("/metadata").json()["outputs"]["forecast"]["horizon"] == 6


def test_forecast_route_refuses_a_table_run(tmp_path: Path, tiny_run: Callable[[Path], Path]) -> None:
    from fastapi.testclient import TestClient
    from helpers import tiny_frame

    from kproto.serve.app import create_app
    from kproto.serve.predictor import load_predictor

    table_run = tiny_run(tmp_path / "table")
    import json

    rows = json.loads(tiny_frame(3, 1).drop(columns=["label"]).to_json(orient="records"))  # gaps as null
    with TestClient(create_app(load_predictor(table_run))) as client:
        refused = client.post("/forecast", json={"rows": rows})
        assert refused.status_code == 422 and "/forecast answers time-series runs" in refused.json()["error"]["message"]


def test_a_series_without_a_time_column_counts_rows(runner: CliRunner, tmp_path: Path) -> None:
    series(60).drop(columns="month").to_csv(tmp_path / "series.csv", index=False)
    (tmp_path / "recipe.yaml").write_text(RECIPE.replace("  time: month\n", ""))
    plain = untrained_run(tmp_path / "recipe.yaml", tmp_path / "runs")
    rows = _write(series(60).drop(columns="month").tail(20), tmp_path / "rows.csv")
    ahead = runner.invoke(cli, ["predict", str(plain), "--data", str(rows), "--horizon", "2"])
    assert ahead.exit_code == 0, ahead.output
    assert ahead.stdout.splitlines()[0] == "step,prediction" and len(ahead.stdout.splitlines()) == 3
    known = runner.invoke(cli, ["predict", str(plain), "--data", str(rows)])
    assert known.exit_code == 0, known.output
    frame = pd.read_csv(pd.io.common.StringIO(known.stdout))
    assert list(frame.columns) == ["row", "step", "prediction", "y"] and frame["row"].iloc[0] == 12
