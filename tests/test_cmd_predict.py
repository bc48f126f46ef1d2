"""`kproto predict` end to end: original labels and probabilities, and rows without the features refused."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
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


def test_predict_gives_original_labels_and_probabilities(run: Path, runner: CliRunner, tmp_path: Path) -> None:
    fresh = tiny_frame(25, 7).drop(columns=["label"])
    path = tmp_path / "rows.csv"
    fresh.to_csv(path, index=False)
    printed = runner.invoke(cli, ["predict", str(run), "--data", str(path)])
    assert printed.exit_code == 0, printed.output
    out = tmp_path / "pred.csv"
    written = runner.invoke(cli, ["predict", str(run), "--data", str(path), "--out", str(out)])
    assert written.exit_code == 0, written.output
    frame = pd.read_csv(out)
    assert len(frame) == len(fresh)
    assert set(frame["prediction"]) <= {"high", "low", "mid"}
    probabilities = frame[["p_high", "p_low", "p_mid"]].to_numpy()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    picked = np.asarray(["high", "low", "mid"])[probabilities.argmax(axis=1)]
    assert (picked == frame["prediction"].to_numpy()).all()
    assert frame.equals(pd.read_csv(io.StringIO(printed.stdout)))


def test_predict_refuses_rows_without_the_features(run: Path, runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "wrong.csv"
    tiny_frame(5, 1).drop(columns=["x1"]).to_csv(path, index=False)
    result = runner.invoke(cli, ["predict", str(run), "--data", str(path)])
    assert result.exit_code == 2
    assert "x1" in result.output and "Traceback" not in result.output


# ----------------------------------------------------------------------------- --out never overwrites
def _data(run: Path) -> Path:
    return run.parents[2] / "tiny.csv"


@pytest.mark.parametrize("force", [False, True], ids=["plain", "--force"])
def test_predict_never_writes_over_its_input(runner: CliRunner, run: Path, tmp_path: Path, force: bool) -> None:
    data = tmp_path / "inp.csv"
    data.write_bytes(_data(run).read_bytes())
    before = data.read_bytes()
    for target in (data, tmp_path / "." / "inp.csv"):
        result = runner.invoke(
            cli, ["predict", str(run), "--data", str(data), "--out", str(target), *(["--force"] if force else [])]
        )
        assert result.exit_code == 2, result.output
        assert "is the input file" in result.output and "Traceback" not in result.output
    link = tmp_path / "link.csv"
    link.symlink_to(data)
    result = runner.invoke(cli, ["predict", str(run), "--data", str(data), "--out", str(link), "--force"])
    assert result.exit_code == 2 and "is the input file" in result.output
    assert data.read_bytes() == before


def test_predict_refuses_an_existing_out_unless_forced(runner: CliRunner, run: Path, tmp_path: Path) -> None:
    out = tmp_path / "existing.csv"
    out.write_text("keep me\n")
    result = runner.invoke(cli, ["predict", str(run), "--data", str(_data(run)), "--out", str(out)])
    assert result.exit_code == 2 and "already exists" in result.output and "--force" in result.output
    assert out.read_text() == "keep me\n"
    forced = runner.invoke(cli, ["predict", str(run), "--data", str(_data(run)), "--out", str(out), "--force"])
    assert forced.exit_code == 0, forced.output
    assert pd.read_csv(out).shape[0] == 150
    fresh = tmp_path / "new.csv"
    assert runner.invoke(cli, ["predict", str(run), "--data", str(_data(run)), "--out", str(fresh)]).exit_code == 0
    assert fresh.exists()


@pytest.mark.parametrize("force", [False, True], ids=["plain", "--force"])
def test_schema_out_never_overwrites_silently(runner: CliRunner, tmp_path: Path, force: bool) -> None:
    out = tmp_path / "existing.json"
    out.write_text("{}\n")
    result = runner.invoke(cli, ["schema", "--out", str(out), *(["--force"] if force else [])])
    if force:
        assert result.exit_code == 0 and '"properties"' in out.read_text()
    else:
        assert result.exit_code == 2 and "already exists" in result.output and out.read_text() == "{}\n"
