"""Shared fixtures: a CliRunner, tiny data files and recipes. Tests run on the TensorFlow backend in-process."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")

from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from click.testing import CliRunner  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
RECIPES = ROOT / "recipes"


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def tiny_classification(tmp_path: Path) -> Path:
    """120 rows: two numeric features, one string feature with gaps, a 3-class string target."""
    rng = np.random.default_rng(0)
    n = 120
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    color = rng.choice(["red", "green", "blue"], size=n).astype(object)
    color[::17] = None
    label = np.where(x1 + 0.3 * x2 > 0.4, "high", np.where(x1 < -0.4, "low", "mid"))
    path = tmp_path / "tiny.csv"
    pd.DataFrame({"x1": x1, "x2": x2, "color": color, "label": label}).to_csv(path, index=False)
    return path


@pytest.fixture
def tiny_regression(tmp_path: Path) -> Path:
    rng = np.random.default_rng(1)
    n = 150
    a, b = rng.normal(size=n), rng.uniform(0, 10, size=n)
    path = tmp_path / "reg.csv"
    pd.DataFrame({"a": a, "b": b, "y": 3.0 * a + 0.5 * b + rng.normal(scale=0.1, size=n) + 100.0}).to_csv(
        path, index=False
    )
    return path


def write_recipe(folder: Path, text: str, name: str = "recipe.yaml") -> Path:
    path = folder / name
    path.write_text(text)
    return path


@pytest.fixture
def make_recipe(tmp_path: Path):
    def make(text: str, name: str = "recipe.yaml") -> Path:
        return write_recipe(tmp_path, text, name)

    return make
