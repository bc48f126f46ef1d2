"""kproto.training.engines.gan.GanEngine on built (untrained) networks: the Engine contract, its logs and its files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kproto.data import DataInfo

INFO = DataInfo(task="generation", kind="image", input_shape=(4, 4, 1), num_classes=3, class_names=["a", "b", "c"])


def _engine(tmp_path: Path, conditional: bool = True, samples_every: int = 2):
    import keras

    from kproto.models.gan import build, build_discriminator
    from kproto.recipe import recipe_from_dict
    from kproto.training.engines.gan import GanEngine

    model = {"type": "gan", "latent_dim": 4, "conditional": conditional, "generator": {"units": [8]}}
    model["discriminator"] = {"units": [8]}
    spec = recipe_from_dict({"data": {"path": "unused.csv", "target": "label"}, "model": model}, "test").model
    generator = build(spec, INFO)
    generator.compile(optimizer=keras.optimizers.Adam())
    discriminator = build_discriminator(spec, INFO)
    return GanEngine(
        generator,
        discriminator,
        keras.optimizers.Adam(),
        INFO,
        None,
        batch_size=8,
        seed=3,
        run_path=tmp_path,
        samples_every=samples_every,
    )


def test_the_gan_engine_is_an_engine(tmp_path: Path) -> None:
    from kproto.training.engines.base import Engine

    engine = _engine(tmp_path)
    assert isinstance(engine, Engine) and engine.name == "gan"
    assert (engine.latent, engine.classes) == (4, 3)
    assert not hasattr(engine, "interrupted")
    assert engine.should_stop() is False


def test_evaluate_logs_the_adversarial_losses_on_fixed_noise(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    x = np.random.default_rng(0).uniform(size=(6, 4, 4, 1)).astype(np.float32)
    y = np.array([0, 1, 2, 0, 1, 2])
    logs = engine.evaluate(x, y)
    assert set(logs) == {"d_loss", "g_loss", "d_accuracy"}
    assert logs == engine.evaluate(x, y)  # the same noise every epoch, so epochs compare
    assert 0.0 <= logs["d_accuracy"] <= 1.0
    assert engine.evaluate(x[:0], y[:0]) == {}


def test_a_conditional_engine_needs_labels(tmp_path: Path) -> None:
    from kproto.core.errors import KprotoError

    with pytest.raises(KprotoError, match="needs the class labels"):
        _engine(tmp_path).evaluate(np.zeros((2, 4, 4, 1), np.float32), None)
    assert set(_engine(tmp_path, conditional=False).evaluate(np.zeros((2, 4, 4, 1), np.float32), None)) == {
        "d_loss",
        "g_loss",
        "d_accuracy",
    }


def test_end_epoch_saves_the_discriminator_and_sample_grids(tmp_path: Path) -> None:
    from kproto.runs import layout

    engine = _engine(tmp_path, samples_every=2)
    engine.end_epoch(1, 5)
    assert (tmp_path / layout.DISCRIMINATOR).is_file()
    assert not (tmp_path / layout.SAMPLES).exists()  # epoch 1 of 5, every 2nd epoch: no grid yet
    engine.end_epoch(2, 5)
    engine.end_epoch(3, 3)  # the last epoch always gets a grid
    grids = sorted(p.name for p in (tmp_path / layout.SAMPLES).iterdir())
    assert grids == [layout.sample_grid(2), layout.sample_grid(3)] == ["epoch-002.png", "epoch-003.png"]
    assert (tmp_path / layout.SAMPLES / "epoch-002.png").read_bytes()[:4] == b"\x89PNG"
