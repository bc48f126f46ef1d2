"""`kproto evaluate` end to end: it reproduces a run's test metrics, reads .keras files and scores new raw rows."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from helpers import (
    tiny_frame,
    tiny_untrained_run,
)

from kproto.cli import cli


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run of the tiny table, built without training (its metrics.json holds the untrained model's scores)."""
    return tiny_untrained_run(tmp_path_factory.mktemp("run"))


def test_evaluate_reproduces_the_test_metrics(run: Path, runner: CliRunner) -> None:
    result = runner.invoke(cli, ["evaluate", str(run), "--json"])
    assert result.exit_code == 0, result.output
    got = json.loads(result.output)
    expected = json.loads((run / "metrics.json").read_text())["test"]
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, abs=1e-6), key
    report = got["report"]
    test_rows = json.loads((run / "preprocess.json").read_text())["info"]["rows"]["test"]
    assert np.asarray(report["confusion"]).sum() == test_rows
    assert set(report["per_class"]) == {"high", "low", "mid"}
    assert not (run / "confusion.png").exists()  # evaluate only reports; `kproto plot` draws (test_figures.py)


def test_evaluate_on_a_keras_file_and_as_tables(run: Path, runner: CliRunner) -> None:
    result = runner.invoke(cli, ["evaluate", str(run / "model.keras")])
    assert result.exit_code == 0, result.output
    for words in ("accuracy", "precision", "recall", "Confusion"):
        assert words in result.output


def test_evaluate_on_new_raw_rows(run: Path, runner: CliRunner, tmp_path: Path) -> None:
    fresh = tiny_frame(40, 99)
    fresh.loc[fresh.index[:3], "color"] = "purple"  # a category never seen in training
    path = tmp_path / "fresh.csv"
    fresh.to_csv(path, index=False)
    result = runner.invoke(cli, ["evaluate", str(run), "--data", str(path), "--json"])
    assert result.exit_code == 0, result.output
    got = json.loads(result.output)
    assert 0.0 <= got["accuracy"] <= 1.0 and np.isfinite(got["loss"])
    assert np.asarray(got["report"]["confusion"]).sum() == len(fresh)
