"""Shared fixtures: a CliRunner, tiny data files and recipes. Tests run on the TensorFlow backend in-process."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

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


# What fitting a model goes through: Keras's fit, the fused, GAN and adversarial engines and the epochs of kproto's
# training loop (Trainer.run itself may run in a fast test: recipe, data and output-folder errors stop it before).
TRAINING_ENTRY_POINTS = (
    ("keras", "Model", "fit"),
    ("kproto.training.engines.fused", "FusedEngine", "train_epoch"),
    ("kproto.training.engines.gan", "GanEngine", "train_epoch"),
    ("kproto.training.engines.adversarial", "AdversarialEngine", "train_epoch"),
    ("kproto.training.loop", "Trainer", "_loop"),
)
MAY_TRAIN = pytest.StashKey[bool]()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Before any fixture of `item` is set up (module fixtures included): whether it may fit a model."""
    item.config.stash[MAY_TRAIN] = item.get_closest_marker("slow") is not None


@pytest.fixture(scope="session", autouse=True)
def fast_tests_train_nothing(pytestconfig: pytest.Config) -> Iterator[None]:
    """Outside tests marked slow, fitting a model (in the test or a fixture) fails at once: `-m "not slow"` stays fast."""
    import functools
    import importlib

    with pytest.MonkeyPatch.context() as patch:
        for module_name, class_name, method in TRAINING_ENTRY_POINTS:
            try:
                owner = getattr(importlib.import_module(module_name), class_name)
            except ImportError:  # an optional backend (JAX) that is not installed trains nothing
                continue
            original = getattr(owner, method)

            @functools.wraps(original)
            def guarded(*args: object, _original=original, _name=f"{module_name}.{class_name}.{method}", **kwargs):
                if not pytestconfig.stash.get(MAY_TRAIN, True):
                    raise RuntimeError(f"this test trains a model ({_name}): mark it slow (@pytest.mark.slow)")
                return _original(*args, **kwargs)

            patch.setattr(owner, method, guarded)
        yield


@pytest.fixture
def digits(tmp_path: Path) -> Path:
    """240 digit rows (every class present), written beside the test's recipes."""
    path = tmp_path / "digits.csv"
    pd.read_csv(DATA / "digits.csv").head(240).to_csv(path, index=False)
    return path


@pytest.fixture
def tiny_classification(tmp_path: Path) -> Path:
    """120 rows: two numeric features, one string feature with gaps, a 3-class string target."""
    return write_tiny_classification(tmp_path)


def write_tiny_classification(folder: Path) -> Path:
    """The `tiny_classification` table, written as tiny.csv in `folder` (for fixtures wider than one test)."""
    rng = np.random.default_rng(0)
    n = 120
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    color = rng.choice(["red", "green", "blue"], size=n).astype(object)
    color[::17] = None
    label = np.where(x1 + 0.3 * x2 > 0.4, "high", np.where(x1 < -0.4, "low", "mid"))
    path = folder / "tiny.csv"
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


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Callable[[Path], Path]:
    """`tiny_untrained_run(folder)` (tests/helpers.py) built once per session and copied into each folder asked for.

    A copy is the run a fresh build writes (same files, same numbers: the build is seeded), its recipe reading the
    copied tiny.csv; copying takes milliseconds where building a run takes seconds.
    """
    import shutil

    from helpers import tiny_untrained_run

    template = tmp_path_factory.mktemp("tiny-run-template")
    built = tiny_untrained_run(template)

    def copy(folder: Path) -> Path:
        shutil.copytree(template, folder, dirs_exist_ok=True)
        run = folder / built.relative_to(template)
        recipe = run / "recipe.yaml"
        text = recipe.read_text().replace(f"path: {template / 'tiny.csv'}\n", f"path: {folder / 'tiny.csv'}\n")
        assert f"path: {folder / 'tiny.csv'}\n" in text, text
        recipe.write_text(text)
        return run

    return copy


def write_recipe(folder: Path, text: str, name: str = "recipe.yaml") -> Path:
    path = folder / name
    path.write_text(text)
    return path


@pytest.fixture
def make_recipe(tmp_path: Path):
    def make(text: str, name: str = "recipe.yaml") -> Path:
        return write_recipe(tmp_path, text, name)

    return make
