"""kproto.training.checkpoint: what a resumed run needs (model, optimizer, counters, seeds) is saved and loaded back
exactly, history.csv holds every column, and a run without a checkpoint is a clean error. Nothing is trained: the
optimizer takes one step by hand."""

from __future__ import annotations

import csv
import io
import json
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers import assert_clean_error, untrained_run

from kproto.cli import cli
from kproto.core.errors import KprotoError
from kproto.runs import layout
from kproto.runs.store import RunDir
from kproto.training.checkpoint import Checkpoint, load_checkpoint, save_checkpoint, seed_generators, write_history


def model_with_dropout(seed: int = 1) -> Any:
    import keras

    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [keras.Input((3,)), keras.layers.Dense(4), keras.layers.Dropout(0.5, seed=seed), keras.layers.Dense(2)]
    )
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    return model


def one_step(model: Any) -> None:
    """One optimizer step from fixed gradients: the optimizer's moments and iteration count change."""
    import keras

    model.optimizer.build(model.trainable_variables)
    grads = [keras.ops.ones_like(v) for v in model.trainable_variables]
    model.optimizer.apply_gradients(zip(grads, model.trainable_variables))


def numbers(variables: list[Any]) -> list[np.ndarray]:
    import keras

    return [np.asarray(keras.ops.convert_to_numpy(v)) for v in variables]


@pytest.fixture
def run(tmp_path: Path) -> RunDir:
    return RunDir.create(tmp_path, "ckpt")


def test_checkpoint_round_trip(run: RunDir) -> None:
    model = model_with_dropout()
    one_step(model)
    generator = seed_generators(model)[0]
    generator.next()  # the dropout stream has moved on
    history = [{"epoch": 1, "loss": 0.5}, {"epoch": 2, "loss": 0.4, "val_loss": 0.45}]
    state = Checkpoint(epoch=2, history=history, best=0.45, best_epoch=2, wait=0, plateau_best=0.45, plateau_wait=1)
    save_checkpoint(run, model, state, learning_rate=0.005)
    assert state.model_file == layout.checkpoint_model(2) and state.learning_rate == 0.005
    assert state.seeds and len(state.seeds) == len(seed_generators(model))
    saved = json.loads((run.path / layout.CHECKPOINT / layout.CHECKPOINT_STATE).read_text())
    assert saved == json.loads(json.dumps(asdict(state)))
    assert json.loads((run.path / layout.METRICS).read_text())["epochs"] == 2

    fresh = model_with_dropout(seed=9)
    loaded = load_checkpoint(run, fresh)
    assert loaded == state
    for got, want in zip(numbers(fresh.weights), numbers(model.weights)):
        np.testing.assert_array_equal(got, want)
    for got, want in zip(numbers(fresh.optimizer.variables), numbers(model.optimizer.variables)):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(numbers([seed_generators(fresh)[0].state]), numbers([generator.state]))


def test_a_new_checkpoint_replaces_the_previous_file(run: RunDir) -> None:
    model = model_with_dropout()
    state = Checkpoint(epoch=1)
    save_checkpoint(run, model, state, 0.01)
    first = run.path / layout.CHECKPOINT / state.model_file
    assert first.is_file()
    state.epoch = 2
    save_checkpoint(run, model, state, 0.01)
    files = sorted(p.name for p in (run.path / layout.CHECKPOINT).iterdir())
    assert files == sorted([layout.checkpoint_model(2), layout.CHECKPOINT_STATE])


def test_load_without_a_checkpoint_is_a_clean_error(run: RunDir) -> None:
    with pytest.raises(KprotoError, match="no checkpoint to resume from") as err:
        load_checkpoint(run, model_with_dropout())
    assert err.value.field == "--resume" and "kproto train" in err.value.hint


def test_history_has_every_column_any_epoch_logged(run: RunDir) -> None:
    write_history(run, [{"epoch": 1, "loss": 1.0}, {"epoch": 2, "loss": 0.5, "val_loss": 0.7}])
    rows = list(csv.DictReader(io.StringIO((run.path / layout.HISTORY).read_text())))
    assert list(rows[0]) == ["epoch", "loss", "val_loss"]
    assert rows[0]["val_loss"] == "" and rows[1]["val_loss"] == "0.7"


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A complete run folder, built without training."""
    folder = tmp_path_factory.mktemp("finished")
    rng = np.random.default_rng(0)
    x1, x2 = rng.normal(size=80), rng.normal(size=80)
    lines = ["x1,x2,label"] + [f"{a},{b},{'yes' if a + b > 0 else 'no'}" for a, b in zip(x1, x2)]
    (folder / "data.csv").write_text("\n".join(lines) + "\n")
    (folder / "recipe.yaml").write_text(
        "data:\n  path: data.csv\n  target: label\nmodel:\n  type: feedforward\n  units: [4]\n"
        "train:\n  epochs: 2\n  batch_size: 16\n"
    )
    return untrained_run(folder / "recipe.yaml", folder / "runs")


def test_resume_a_run_without_checkpoint(runner, finished_run: Path, tmp_path: Path) -> None:
    run = tmp_path / "recipe" / "run"
    shutil.copytree(finished_run, run)
    assert (run / layout.CHECKPOINT / layout.CHECKPOINT_STATE).is_file()
    shutil.rmtree(run / "checkpoint")
    result = runner.invoke(cli, ["train", "--resume", str(run), "--backend", "tensorflow"])
    assert_clean_error(result, says="no checkpoint to resume from")
