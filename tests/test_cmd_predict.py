"""`kproto predict` end to end: original labels and probabilities, and rows without the features refused."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from helpers import tiny_frame

from kproto.cli import cli


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, tiny_run: Callable[[Path], Path]) -> Path:
    """A run of the tiny table, built without training (its metrics.json holds the untrained model's scores)."""
    return tiny_run(tmp_path_factory.mktemp("run"))


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


def test_predict_counts_unseen_categories_and_imputed_cells(run: Path, runner: CliRunner, tmp_path: Path) -> None:
    fresh = tiny_frame(10, 3).drop(columns=["label"])
    fresh.loc[0, "color"] = "purple"
    fresh.loc[1, "color"] = "orange"
    fresh.loc[2, "x1"] = None
    path = tmp_path / "rows.csv"
    fresh.to_csv(path, index=False)
    result = runner.invoke(cli, ["predict", str(run), "--data", str(path)])
    assert result.exit_code == 0, result.output
    line = next(text for text in result.stderr.splitlines() if text.startswith("warning:"))
    assert "2 unseen categories (color: 2)" in line and "imputed cells (" in line and "x1: 1" in line
    assert "warning" not in result.stdout  # the CSV stays clean


def test_a_run_without_audit_json_predicts_as_before(run: Path, runner: CliRunner, tmp_path: Path) -> None:
    import shutil

    from kproto.runs import layout

    assert (run / layout.AUDIT).is_file()
    old = tmp_path / "old-run"
    shutil.copytree(run, old)
    (old / layout.AUDIT).unlink()
    path = tmp_path / "rows.csv"
    tiny_frame(12, 5).drop(columns=["label"]).to_csv(path, index=False)
    new_out = runner.invoke(cli, ["predict", str(run), "--data", str(path)])
    old_out = runner.invoke(cli, ["predict", str(old), "--data", str(path)])
    assert old_out.exit_code == 0, old_out.output
    assert old_out.stdout == new_out.stdout


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
