"""GAN sampling and judging: kproto.models.gan's latent layout, seeded samples, columns and pictures;
kproto.commands.generate's statistics and judge; the GAN commands end to end (predict --samples, evaluate --judge)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from helpers import train_recipe

from kproto.cli import cli
from kproto.data import DataInfo

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
CLASSES = ["zero", "one", "two"]


def _is_png(path: Path) -> bool:
    return path.exists() and path.read_bytes()[:8] == PNG_MAGIC


def _gan_spec(conditional: bool, latent_dim: int = 4):
    from kproto.recipe import recipe_from_dict

    model = {
        "type": "gan",
        "latent_dim": latent_dim,
        "conditional": conditional,
        "generator": {"units": [8]},
        "discriminator": {"units": [8]},
    }
    return recipe_from_dict({"data": {"path": "unused.csv", "target": "label"}, "model": model}, "test").model


def _info(kind: str = "image", shape: tuple[int, ...] = (4, 4, 1)) -> DataInfo:
    return DataInfo(task="generation", kind=kind, input_shape=shape, num_classes=3, class_names=CLASSES)


def _generator(conditional: bool, info: DataInfo):
    from kproto.models.gan import build

    return build(_gan_spec(conditional), info)


# ----------------------------------------------------------------------------- kproto.models.gan sampling
@pytest.mark.parametrize(("conditional", "layout"), [(False, (4, 0)), (True, (4, 3))])
def test_latent_layout_reads_the_single_input(conditional: bool, layout: tuple[int, int]) -> None:
    from kproto.models.gan import latent_layout

    generator = _generator(conditional, _info())
    assert len(generator.inputs) == 1
    assert latent_layout(generator, _info()) == layout


def test_latent_batch_is_seeded_and_cycles_the_classes() -> None:
    from kproto.models.gan import latent_batch

    info = _info()
    generator = _generator(True, info)
    z, labels = latent_batch(generator, info, 7, seed=5)
    assert z.shape == (7, 7) and z.dtype == np.float32
    assert labels.tolist() == [0, 1, 2, 0, 1, 2, 0]
    np.testing.assert_array_equal(z[:, 4:], np.eye(3, dtype=np.float32)[labels])
    again, _ = latent_batch(generator, info, 7, seed=5)
    np.testing.assert_array_equal(z, again)
    noise = np.random.default_rng(5).standard_normal((7, 4)).astype(np.float32)
    np.testing.assert_array_equal(z[:, :4], noise)
    asked, chosen = latent_batch(generator, info, 2, seed=5, labels=np.array([2, 2]))
    assert chosen.tolist() == [2, 2] and asked[:, 4:].argmax(axis=1).tolist() == [2, 2]
    plain, none = latent_batch(_generator(False, info), info, 3, seed=5)
    assert none is None and plain.shape == (3, 4)


def test_generate_returns_samples_shaped_like_rows() -> None:
    from kproto.models.gan import generate

    info = _info()
    samples, labels = generate(_generator(True, info), info, 5, seed=0)
    assert samples.shape == (5, 4, 4, 1) and samples.dtype == np.float32
    assert labels.tolist() == [0, 1, 2, 0, 1]
    assert 0.0 <= samples.min() and samples.max() <= 1.0  # pixels: sigmoid output


# ----------------------------------------------------------------------------- samples as columns and pictures
TABULAR = SimpleNamespace(
    kind="table",
    state={
        "categorical": "onehot",
        "columns": [
            {"name": "size", "type": "numeric", "mean": 10.0, "std": 2.0},
            {"name": "colour", "type": "categorical", "values": ["red", "blue"]},
        ],
    },
)
IMAGE = SimpleNamespace(kind="image", state={"image": {"min": 0.0, "max": 16.0}, "features": ["p0", "p1", "p2", "p3"]})


def test_inverse_features_maps_back_to_the_original_columns() -> None:
    from kproto.models.gan import inverse_features

    frame = inverse_features(TABULAR, np.array([[0.5, 0.1, 0.9], [-1.0, 0.8, 0.2]], np.float32))
    assert list(frame.columns) == ["size", "colour"]
    assert frame["size"].tolist() == [11.0, 8.0] and frame["colour"].tolist() == ["blue", "red"]
    ordinal = SimpleNamespace(kind="table", state={**TABULAR.state, "categorical": "ordinal"})
    codes = inverse_features(ordinal, np.array([[0.0, 1.2], [0.0, 7.0]], np.float32))
    assert codes["colour"].tolist() == ["red", "blue"]  # codes 1.., clipped to the known values
    pixels = inverse_features(IMAGE, np.array([[0.0, 0.5, 1.0, 0.25]], np.float32))
    assert list(pixels.columns) == IMAGE.state["features"] and pixels.iloc[0].tolist() == [0.0, 8.0, 16.0, 4.0]


def test_inverse_features_refuses_other_data() -> None:
    from kproto.core.errors import KprotoError
    from kproto.models.gan import inverse_features

    with pytest.raises(KprotoError, match="text data cannot be mapped back"):
        inverse_features(SimpleNamespace(kind="text", state={}), np.zeros((2, 3)))


def test_draw_samples_as_image_rows_or_a_table(tmp_path: Path) -> None:
    from kproto.models.gan import draw_samples

    images = np.random.default_rng(0).uniform(size=(30, 4, 4, 1)).astype(np.float32)
    assert _is_png(draw_samples(images, _info(), None, tmp_path / "grid.png", "epoch 1", CLASSES * 10))
    rows = np.random.default_rng(1).normal(size=(20, 3)).astype(np.float32)
    assert _is_png(draw_samples(rows, _info("table", (3,)), TABULAR, tmp_path / "table.png", labels=CLASSES * 7))


def test_class_names() -> None:
    from kproto.models.gan import class_names

    assert class_names(_info(), np.array([2, 0])) == ["two", "zero"]
    assert class_names(_info(), None) is None
    assert class_names(DataInfo(task="generation", kind="image", input_shape=(4,)), np.array([1])) is None


def test_nearest_rms_and_generation_metrics() -> None:
    from kproto.training.scoring import generation_metrics, nearest_rms

    reference = np.array([[0.0, 0.0], [3.0, 4.0]])
    assert nearest_rms(reference, reference) == pytest.approx(0.0, abs=1e-6)
    assert nearest_rms(np.array([[0.0, 2.0]]), reference) == pytest.approx(np.sqrt(4 / 2))
    assert nearest_rms(np.zeros((0, 2)), reference) == 0.0
    info = _info()
    rng = np.random.default_rng(2)
    dataset = SimpleNamespace(
        info=info, x_train=rng.uniform(size=(40, 4, 4, 1)), x_test=rng.uniform(size=(10, 4, 4, 1))
    )
    results = generation_metrics(_generator(False, info), dataset, count=50)
    assert results["report"] == {"samples": 50} and results["train"] == results["validation"] == {}
    assert set(results["test"]) == {"mean_gap", "std_gap", "generated_to_train_rms", "test_to_train_rms"}
    assert all(value >= 0 for value in results["test"].values())


# ----------------------------------------------------------------------------- the GAN commands end to end
@pytest.mark.slow
def test_conditional_gan_samples_judge_export(runner, make_recipe, digits: Path, tmp_path: Path) -> None:
    out = tmp_path / "runs"
    recipe = make_recipe(f"""
name: gan
data: {{path: {digits}, target: label, shape: [8, 8, 1]}}
model:
  type: gan
  latent_dim: 8
  conditional: true
  generator: {{units: [32], batch_norm: true}}
  discriminator: {{units: [32], dropout: 0.2}}
  samples_every: 1
train: {{epochs: 2, batch_size: 32}}
""")
    run = train_recipe(runner, recipe, out, "gan")
    history = pd.read_csv(run / "history.csv")
    assert {"d_loss", "g_loss", "d_accuracy", "val_d_loss"} <= set(history.columns)
    assert len(history) == 2
    assert _is_png(run / "samples" / "epoch-001.png") and _is_png(run / "samples" / "epoch-002.png")
    assert (run / "discriminator.keras").exists() and (run / "model.keras").exists()

    samples = tmp_path / "samples.csv"
    result = runner.invoke(cli, ["predict", str(run), "--samples", "7", "--out", str(samples)])
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(samples)
    assert len(frame) == 7
    assert list(frame.columns) == [f"p{i}" for i in range(64)] + ["label"]
    assert frame["label"].tolist() == [0, 1, 2, 3, 4, 5, 6]
    assert _is_png(samples.with_suffix(".png"))
    # Reloading gives the same samples (seeded by the run's seed).
    again = tmp_path / "again.csv"
    assert runner.invoke(cli, ["predict", str(run), "--samples", "7", "--out", str(again)]).exit_code == 0
    pd.testing.assert_frame_equal(frame, pd.read_csv(again))
    # The library call behind it: the same rows, and the class each was asked for.
    from kproto.commands.generate import sample_run

    generated = sample_run(run, 7)
    assert generated.labels == [0, 1, 2, 3, 4, 5, 6] and generated.x.shape == (7, 8, 8, 1)
    np.testing.assert_allclose(generated.frame["p10"].to_numpy(), frame["p10"].to_numpy(), atol=1e-4)

    judge_recipe = make_recipe(
        f"""
name: judge
data: {{path: {digits}, target: label}}
model: {{type: feedforward, units: [16]}}
train: {{epochs: 1}}
""",
        name="judge.yaml",
    )
    judge = train_recipe(runner, judge_recipe, out, "judge")
    result = runner.invoke(cli, ["evaluate", str(run), "--judge", str(judge)])
    assert result.exit_code == 0, result.output
    assert "judge_mean_top_probability" in result.output and "judge_classes_present" in result.output
    result = runner.invoke(cli, ["evaluate", str(run), "--judge", str(judge), "--json"])
    verdict = json.loads(result.output)
    assert 0.0 < verdict["judge_mean_top_probability"] <= 1.0
    assert 1 <= verdict["judge_classes_present"] <= 10
    assert sum(verdict["report"].values()) == verdict["judge_samples"] == 1000
    assert 0.0 <= verdict["judge_agrees_with_condition"] <= 1.0
    assert {"mean_gap", "std_gap", "generated_to_train_rms", "test_to_train_rms"} <= set(verdict)

    result = runner.invoke(cli, ["export", str(run), "--format", "savedmodel"])
    assert result.exit_code == 0, result.output
    assert "generator inputs" in result.output
    assert (run / "export" / "model" / "saved_model.pb").exists()

    # A GAN run has no rows to predict or codes to give; a classifier can't be judged.
    result = runner.invoke(cli, ["predict", str(run), "--data", str(digits)])
    assert result.exit_code == 2 and "--samples" in result.output
    result = runner.invoke(cli, ["evaluate", str(judge), "--judge", str(judge)])
    assert result.exit_code == 2
    # The judge must be a classifier trained on the columns the GAN generates.
    result = runner.invoke(cli, ["predict", str(judge), "--samples", "3"])
    assert result.exit_code == 2 and "needs a GAN run" in result.output


@pytest.mark.slow
def test_unconditional_gan_on_table_generates_original_columns(
    runner, make_recipe, tiny_regression: Path, tmp_path: Path
) -> None:
    recipe = make_recipe(f"""
name: tab-gan
data: {{path: {tiny_regression}}}
model: {{type: gan, latent_dim: 4, generator: {{units: [8]}}, discriminator: {{units: [8]}}, samples_every: 5}}
train: {{epochs: 1}}
""")
    run = train_recipe(runner, recipe, tmp_path / "runs", "tab-gan")
    assert _is_png(run / "samples" / "epoch-001.png")  # the last epoch always gets a grid (a table here)
    result = runner.invoke(cli, ["predict", str(run), "--samples", "5"])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert lines[0] == "a,b,y" and len(lines) == 6


def test_generative_usage_errors(runner, make_recipe, tiny_regression: Path, tmp_path: Path) -> None:
    recipe = make_recipe(f"""
data: {{path: {tiny_regression}}}
model: {{type: gan, conditional: true}}
train: {{epochs: 1}}
""")
    result = runner.invoke(cli, ["train", str(recipe), "--out", str(tmp_path / "runs")])
    assert result.exit_code == 2 and "model.conditional" in result.output
    result = runner.invoke(cli, ["predict", str(tmp_path)])
    assert result.exit_code == 2 and "--samples" in result.output
