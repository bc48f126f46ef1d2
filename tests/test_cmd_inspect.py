"""`kproto inspect` end to end: the JSON profile's keys, the table for people, clean errors, no TensorFlow; and the
same audit printed by `kproto validate`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kproto.cli import cli

ROOT = Path(__file__).resolve().parent.parent


def patients(n: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(11)
    age = rng.integers(20, 90, n)
    return pd.DataFrame(
        {
            "patient_id": rng.choice(np.arange(1_000_000, 9_999_999), n, replace=False),
            "name": [f"Patient {i}" for i in range(n)],
            "age": age,
            "ward": rng.choice(["north", "south"], n),
            "admitted": pd.date_range("2022-01-01", periods=n, freq="D").strftime("%Y-%m-%d"),
            "hospital": "St Mary",
            "outcome": np.where(rng.random(n) < 0.04, "died", "recovered"),
        }
    )


@pytest.fixture
def data(tmp_path: Path) -> Path:
    path = tmp_path / "patients.csv"
    patients().to_csv(path, index=False)
    return path


def test_inspect_json(runner, data: Path) -> None:
    result = runner.invoke(cli, ["inspect", str(data), "--target", "outcome", "--json"])
    assert result.exit_code == 0, result.output
    profile = json.loads(result.output)
    assert list(profile) == ["rows", "target", "columns", "warnings"] and profile["rows"] == 300
    assert profile["target"]["name"] == "outcome" and profile["target"]["task"] == "classification"
    roles = {c["name"]: (c["role"], c["action"]) for c in profile["columns"]}
    assert roles == {
        "patient_id": ("identifier", "drop"),
        "name": ("identifier", "drop"),
        "age": ("numeric", "standardize"),
        "ward": ("categorical", "one-hot"),
        "admitted": ("datetime", "date_features"),
        "hospital": ("constant", "drop"),
        "outcome": ("target", "predict"),
    }
    codes = {(w["code"], w.get("column")) for w in profile["warnings"]}
    assert {("identifier", "patient_id"), ("constant", "hospital"), ("datetime", "admitted")} <= codes
    assert ("imbalance", "outcome") in codes


def test_inspect_table_for_people(runner, data: Path) -> None:
    result = runner.invoke(cli, ["inspect", str(data)])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "target: outcome → classification" in out  # the last usable column, not an identifier
    for word in ("identifier", "constant", "datetime", "date_features", "[imbalance] outcome"):
        assert word in out


def test_inspect_names_a_misspelt_target(runner, data: Path) -> None:
    result = runner.invoke(cli, ["inspect", str(data), "--target", "outcom"])
    assert result.exit_code == 2
    assert "--target" in result.output and "did you mean 'outcome'" in result.output


def test_inspect_a_file_that_is_not_utf8(runner, tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(b"x,label\n" + b"".join(b"%d,caf%c\n" % (i % 5, 0xE8 + i % 2) for i in range(30)))
    result = runner.invoke(cli, ["inspect", str(path), "--json"])
    assert result.exit_code == 0, result.output
    profile = json.loads(result.output)
    assert set(profile["target"]["classes"]) == {"café", "cafè"}
    assert any(w["code"] == "encoding" and "line 2" in w["message"] for w in profile["warnings"])


def test_inspect_imports_no_tensorflow(data: Path) -> None:
    code = (
        "import sys\nfrom click.testing import CliRunner\nfrom kproto.cli import cli\n"
        f"result = CliRunner().invoke(cli, ['inspect', {str(data)!r}, '--json'])\n"
        "assert result.exit_code == 0, result.output\n"
        "print(','.join(sorted(m for m in ('tensorflow', 'keras', 'jax', 'torch') if m in sys.modules)))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ""


def test_validate_prints_the_audit(runner, data: Path) -> None:
    recipe = data.parent / "recipe.yaml"
    recipe.write_text("data:\n  path: patients.csv\n  target: outcome\nmodel:\n  type: feedforward\n")
    result = runner.invoke(cli, ["validate", str(recipe)])
    assert result.exit_code == 0, result.output
    assert "dropped by the data audit: patient_id (identifier), name (identifier), hospital (constant)" in result.output
    assert "warning [imbalance] outcome" in result.output
    quiet = runner.invoke(cli, ["validate", str(recipe), "--set", "data.audit=off"])
    assert quiet.exit_code == 0 and "warning" not in quiet.output


def test_validate_refuses_a_file_that_is_not_utf8(runner, tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_bytes(b"x,label\n1,caf\xe9\n2,tea\n")
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("data:\n  path: t.csv\n  target: label\nmodel:\n  type: feedforward\n")
    result = runner.invoke(cli, ["validate", str(recipe)])
    assert result.exit_code == 2
    assert "line 2 of t.csv is not UTF-8" in result.output and "data.encoding: latin-1" in result.output


def test_inspect_is_listed_and_documented(runner) -> None:
    assert "inspect" in runner.invoke(cli, ["--help"]).output
    help_text = runner.invoke(cli, ["inspect", "--help"]).output
    assert "--target" in help_text and "--json" in help_text and "--encoding" in help_text
