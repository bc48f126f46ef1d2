"""Training controls end to end (in-process, TensorFlow): schedules in history.csv, early stopping, metrics,
augmentation, precision, devices, class weights, custom losses, resume and reproducibility."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pandas as pd
import pytest
import yaml

from kproto.cli import cli

pytestmark = pytest.mark.slow
BASE = {"name": "t", "seed": 3, "model": {"type": "feedforward", "units": [8], "dropout": 0.0}}


def train(runner: Any, folder: Path, recipe: dict[str, Any], *args: str, code: int = 0) -> Path | str:
    """Write `recipe` (JSON is YAML), run `kproto train` in-process; the run folder (or the output on failure)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    out = folder / "runs"
    result = runner.invoke(cli, ["train", str(path), "--out", str(out), *args])
    assert result.exit_code == code, result.output + repr(result.exception)
    if code:
        return result.output
    (run,) = out.glob("*/*/metrics.json")
    return run.parent


def recipe_for(data: Path, **train: Any) -> dict[str, Any]:
    return {
        **BASE,
        "data": {"path": str(data), "target": "label"},
        "train": {"epochs": 4, "batch_size": 16, "steps_per_execution": 1, **train},
    }


def history(run: Path) -> pd.DataFrame:
    return pd.read_csv(run / "history.csv")


def metrics(run: Path) -> dict[str, Any]:
    return json.loads((run / "metrics.json").read_text())


@pytest.fixture(autouse=True)
def float32_policy():
    yield
    keras.mixed_precision.set_dtype_policy("float32")


# ----------------------------------------------------------------------------- schedules
LR = 0.01


def _cosine(t: float, period: float) -> float:
    return 0.5 * (1 + math.cos(math.pi * min(t, period) / period))


def expected_rate(name: str, options: dict[str, Any], t: int, spe: int, epochs: int) -> float:
    """The rate a schedule gives step t (written from the schedules' definitions, independently of kproto)."""
    total = spe * epochs
    warm = options.get("warmup_epochs", 0) * spe
    if name == "constant":
        rate = LR
    elif name == "step":
        rate = LR * 0.5 ** sum(t >= b * spe for b in range(2, epochs, 2))
    elif name == "exponential":
        rate = LR * 0.5 ** (t // spe)
    elif name == "cosine":
        rate = LR * _cosine(t, total)
    elif name == "cosine_restarts":
        rate = LR * _cosine(t % (2 * spe), 2 * spe)
    elif name == "polynomial":
        rate = (LR - LR / 100) * (1 - min(t, total) / total) + LR / 100
    elif name == "one_cycle":
        peak, up = 10 * LR, 0.3 * total
        start, end = peak / 25, peak / 1e4
        rate = (
            start + (peak - start) * (1 - _cosine(t, up))
            if t < up
            else end + (peak - end) * _cosine(t - up, total - up)
        )
    else:
        raise AssertionError(name)
    return rate * (t + 1) / warm if t < warm else rate


SCHEDULES = [
    ("constant", {}),
    ("step", {"every": 2, "gamma": 0.5}),
    ("exponential", {"decay_rate": 0.5, "decay_epochs": 1, "staircase": True}),
    ("cosine", {}),
    ("cosine", {"warmup_epochs": 2}),
    ("cosine_restarts", {"first_decay_epochs": 2, "t_mul": 1.0}),
    ("polynomial", {}),
    ("one_cycle", {}),
    ("exponential", {"decay_rate": 0.5, "staircase": True, "warmup_epochs": 2}),
]


@pytest.mark.parametrize(
    ("name", "options"), SCHEDULES, ids=[f"{n}{'-warmup' if 'warmup_epochs' in o else ''}" for n, o in SCHEDULES]
)
def test_schedule_learning_rate_per_epoch(
    runner: Any, tmp_path: Path, tiny_classification: Path, name: str, options: dict[str, Any]
) -> None:
    epochs = 4
    recipe = recipe_for(
        tiny_classification,
        epochs=epochs,
        early_stopping=False,
        optimizer={"name": "sgd", "learning_rate": LR},
        schedule={"name": name, **options},
    )
    run = train(runner, tmp_path, recipe)
    rows = json.loads((run / "preprocess.json").read_text())["info"]["rows"]["train"]
    spe = math.ceil(rows / 16)
    logged = history(run)["learning_rate"].tolist()
    wanted = [expected_rate(name, options, e * spe - 1, spe, epochs) for e in range(1, epochs + 1)]
    assert logged == pytest.approx(wanted, rel=1e-4, abs=1e-9)
    # the saved model (optimizer and its kproto schedule included) reloads in safe mode
    model = keras.saving.load_model(run / "model.keras", safe_mode=True)
    assert float(keras.ops.convert_to_numpy(model.optimizer.iterations)) == epochs * spe


@pytest.mark.parametrize("warmup", [0, 2])
def test_plateau_reduces_the_rate(runner: Any, tmp_path: Path, tiny_classification: Path, warmup: int) -> None:
    """A tiny rate leaves val_accuracy flat, so every epoch after the first counts as a plateau."""
    recipe = recipe_for(
        tiny_classification,
        epochs=5,
        early_stopping=False,
        optimizer={"name": "sgd", "learning_rate": 1e-6},
        schedule={
            "name": "plateau",
            "monitor": "val_accuracy",
            "patience": 1,
            "factor": 0.5,
            "min_lr": 0,
            "warmup_epochs": warmup,
        },
    )
    logged = history(train(runner, tmp_path, recipe))["learning_rate"].tolist()
    if warmup:  # 1/2 then the full rate; plateau counting starts after the warmup
        wanted = [0.5e-6, 1e-6, 1e-6, 1e-6, 0.5e-6]
    else:
        wanted = [1e-6, 1e-6, 0.5e-6, 0.25e-6, 0.125e-6]
    assert logged == pytest.approx(wanted, rel=1e-5)


def test_unknown_schedule_option(runner: Any, tmp_path: Path, tiny_classification: Path) -> None:
    output = train(runner, tmp_path, recipe_for(tiny_classification, schedule={"name": "cosine", "alpah": 0.1}), code=2)
    assert "alpah" in output and "train.schedule" in output


# ----------------------------------------------------------------------------- early stopping and metrics
def test_early_stopping_restores_the_best_epoch(runner: Any, tmp_path: Path, tiny_classification: Path) -> None:
    recipe = recipe_for(
        tiny_classification,
        epochs=40,
        optimizer={"name": "adam", "learning_rate": 0.05},
        early_stopping={"monitor": "val_accuracy", "patience": 1},
    )
    run = train(runner, tmp_path, recipe)
    rows, result = history(run), metrics(run)
    assert len(rows) < 40
    best = int(rows["val_accuracy"].idxmax())
    assert result["best_epoch"] == best + 1 and len(rows) == best + 2  # stopped one epoch after the best
    assert result["validation"]["accuracy"] == pytest.approx(rows["val_accuracy"][best], abs=1e-6)
    assert result["validation"]["loss"] == pytest.approx(rows["val_loss"][best], abs=1e-6)


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_metrics_reach_history_and_metrics_json(
    runner: Any, tmp_path: Path, tiny_classification: Path, tiny_regression: Path, task: str
) -> None:
    if task == "classification":
        names = ["accuracy", "precision", "recall", "auc", "f1", "top_k_accuracy"]
        recipe = recipe_for(tiny_classification, epochs=1, metrics=names)
    else:
        names = ["mae", "rmse", "r2", "mse", "mape"]
        recipe = {
            **recipe_for(tiny_regression, epochs=1, metrics=names),
            "data": {"path": str(tiny_regression), "target": "y"},
        }
    run = train(runner, tmp_path, recipe)
    columns, result = set(history(run).columns), metrics(run)
    for name in names:
        assert {name, f"val_{name}"} <= columns
        assert all(math.isfinite(result[split][name]) for split in ("train", "validation", "test"))
    if task == "classification":
        report = result["report"]
        assert set(report["per_class"]) == {"high", "low", "mid"}
        assert np.array(report["confusion"]).sum() == result["report"]["per_class"]["high"]["support"] + sum(
            c["support"] for k, c in report["per_class"].items() if k != "high"
        )


def test_class_weights_reach_fit(runner: Any, tmp_path: Path, tiny_classification: Path, monkeypatch: Any) -> None:
    from kproto.engines.fit import FitEngine

    seen: list[np.ndarray | None] = []
    original = FitEngine.train_epoch

    def spy(self: Any, x: Any, y: Any, order: Any, sample_weight: Any = None, on_progress: Any = None) -> Any:
        seen.append(None if sample_weight is None else np.asarray(sample_weight)[order])
        return original(self, x, y, order, sample_weight, on_progress)

    monkeypatch.setattr(FitEngine, "train_epoch", spy)
    train(runner, tmp_path, recipe_for(tiny_classification, epochs=1, class_weight={"low": 3.0}))
    (weights,) = seen
    assert weights is not None and set(np.unique(weights)) == {1.0, 3.0}


def test_custom_loss_trains_with_allow_code(runner: Any, tmp_path: Path, tiny_classification: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "losses.py").write_text(
        "import keras\n\ndef smooth_ce(y_true, y_pred):\n"
        "    return keras.losses.categorical_crossentropy(y_true, y_pred, label_smoothing=0.1)\n"
    )
    recipe = recipe_for(tiny_classification, epochs=1, loss={"python": "losses.py:smooth_ce"})
    run = train(runner, tmp_path / "a", recipe, "--allow-code")
    assert metrics(run)["status"] == "completed" and math.isfinite(metrics(run)["test"]["loss"])


# ----------------------------------------------------------------------------- augmentation
@pytest.fixture
def tiny_images(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 16, size=(90, 16))
    frame = pd.DataFrame(x, columns=[f"p{i}" for i in range(16)])
    frame["label"] = (x[:, :8].sum(axis=1) > x[:, 8:].sum(axis=1)).astype(int)
    path = tmp_path / "images.csv"
    frame.to_csv(path, index=False)
    return path


def _inner(model: keras.Model) -> keras.Model:
    (inner,) = [layer for layer in model.layers if isinstance(layer, keras.Model)]
    return inner


def test_image_augmentation_is_training_only_and_exports(runner: Any, tmp_path: Path, tiny_images: Path) -> None:
    augment = {"flip": "horizontal", "rotation": 0.1, "zoom": 0.1, "translation": 0.1, "contrast": 0.2, "noise": 0.05}
    recipe = {
        **recipe_for(tiny_images, epochs=1),
        "data": {"path": str(tiny_images), "target": "label", "shape": [4, 4, 1], "augment": augment},
    }
    run = train(runner, tmp_path, recipe)
    model = keras.saving.load_model(run / "model.keras", safe_mode=True)
    (layer,) = [layer for layer in model.layers if layer.name == "augmentation"]
    assert {step.name for step in layer.steps} == {f"augment_{k}" for k in augment}
    x = np.random.default_rng(1).uniform(size=(8, 4, 4, 1)).astype("float32")
    plain = _inner(model).predict(x, verbose=0)
    np.testing.assert_allclose(model.predict(x, verbose=0), plain, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(x)), plain, rtol=1e-5, atol=1e-6)
    augmented = keras.ops.convert_to_numpy(model(x, training=True))
    assert not np.allclose(augmented, plain)  # active while training
    result = runner.invoke(cli, ["export", str(run), "--format", "savedmodel"])
    assert result.exit_code == 0, result.output


def test_sequence_augmentation(tmp_path: Path) -> None:
    from kproto.augment import RandomMasking, augmentation_layers
    from kproto.data.dataset import DataInfo
    from kproto.errors import RecipeError
    from kproto.recipe.schema import Augment

    info = DataInfo(task="regression", kind="window", input_shape=(6, 2))
    layers = augmentation_layers(Augment(noise=0.1, mask=0.5), info)
    assert [type(layer).__name__ for layer in layers] == ["GaussianNoise", "RandomMasking"]
    x = np.ones((64, 6, 2), "float32")
    masked = keras.ops.convert_to_numpy(RandomMasking(0.5, seed=1)(x, training=True))
    assert np.array_equal(RandomMasking(0.5, seed=1)(x, training=False), x)
    steps = masked[..., 0]
    assert np.array_equal(masked[..., 0], masked[..., 1]) and 0.3 < (steps == 0).mean() < 0.7  # whole steps
    clone = RandomMasking.from_config(RandomMasking(0.25).get_config())
    assert clone.rate == 0.25
    with pytest.raises(RecipeError) as err:
        augmentation_layers(Augment(flip="horizontal"), info)
    assert err.value.field == "data.augment.flip"
    text = DataInfo(task="classification", kind="text", input_shape=(10,), num_classes=2)
    with pytest.raises(RecipeError):
        augmentation_layers(Augment(noise=0.1), text)
    assert len(augmentation_layers(Augment(mask=0.1), text)) == 1


# ----------------------------------------------------------------------------- precision and device
def test_mixed_bfloat16_trains_on_cpu(runner: Any, tmp_path: Path, tiny_classification: Path) -> None:
    run = train(runner, tmp_path, recipe_for(tiny_classification, epochs=1, precision="mixed_bfloat16"))
    result = metrics(run)
    assert result["precision"] == "mixed_bfloat16" and result["device"] == "cpu" and result["backend"] == "tensorflow"
    assert all(math.isfinite(v) for v in result["test"].values())
    keras.mixed_precision.set_dtype_policy("float32")
    model = keras.saving.load_model(run / "model.keras", safe_mode=True)
    assert model.get_layer("dense_0").dtype_policy.name == "mixed_bfloat16"
    assert model.get_layer("output").dtype_policy.compute_dtype == "float32"
    assert model.output.dtype == "float32"


# ----------------------------------------------------------------------------- resume and reproducibility
def test_resume_continues_and_matches_an_uninterrupted_run(
    runner: Any, tmp_path: Path, tiny_classification: Path
) -> None:
    recipe = recipe_for(tiny_classification, epochs=4, early_stopping=False)
    recipe["model"] = {**recipe["model"], "dropout": 0.3}
    first = train(runner, tmp_path / "a", recipe, "--set", "train.epochs=2")
    assert len(history(first)) == 2
    result = runner.invoke(cli, ["train", "--resume", str(first), "--set", "train.epochs=4"])
    assert result.exit_code == 0, result.output
    resumed = history(first)
    assert resumed["epoch"].tolist() == [1, 2, 3, 4]
    assert "epochs: 4" in (first / "recipe.yaml").read_text()
    whole = train(runner, tmp_path / "b", recipe)
    pd.testing.assert_frame_equal(resumed.drop(columns="seconds"), history(whole).drop(columns="seconds"), rtol=1e-5)
    for split in ("train", "validation", "test"):
        assert metrics(first)[split] == pytest.approx(metrics(whole)[split], abs=1e-5)


def test_same_seed_same_run(runner: Any, tmp_path: Path, tiny_classification: Path) -> None:
    recipe = recipe_for(tiny_classification, epochs=2)
    one, two = train(runner, tmp_path / "a", recipe), train(runner, tmp_path / "b", recipe)
    assert (one / "preprocess.json").read_text() == (two / "preprocess.json").read_text()
    first, second = metrics(one), metrics(two)
    assert {k: round(v, 4) for k, v in first["test"].items()} == {k: round(v, 4) for k, v in second["test"].items()}
    for key in ("seed", "versions", "device", "backend", "precision"):
        assert first[key] == second[key] and first[key] not in (None, "", {})
    assert first["seed"] == 3 and "keras" in first["versions"]
