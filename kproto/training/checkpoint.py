"""Checkpoints: what a resumed run needs (model and optimizer in a .keras file, counters in state.json)."""

from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from kproto.core.errors import KprotoError
from kproto.runs import layout
from kproto.runs.load import check_model_file
from kproto.runs.store import RunDir, read_json, save_model_atomic

if TYPE_CHECKING:
    import keras


@dataclass
class Checkpoint:
    """What a resumed run needs besides the model and optimizer variables."""

    epoch: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    best: float | None = None
    best_epoch: int = 0
    wait: int = 0
    plateau_best: float | None = None
    plateau_wait: int = 0
    learning_rate: float | None = None
    seeds: list[list[int]] = field(default_factory=list)
    model_file: str = ""


def seed_generators(model: keras.Model) -> list[Any]:
    """The model's random seed generators (dropout, noise), in a stable order."""
    import keras

    found = []
    for layer in model._flatten_layers():
        for value in vars(layer).values():
            if isinstance(value, keras.random.SeedGenerator):
                found.append(value)
    return found


def save_checkpoint(run: RunDir, model: keras.Model, state: Checkpoint, learning_rate: float) -> None:
    """Model + optimizer in a new file, then the state that points to it, then the old file goes."""
    import keras

    folder = run.checkpoints
    name = layout.checkpoint_model(state.epoch)
    save_model_atomic(model, folder / name)
    previous = state.model_file
    state.model_file = name
    state.learning_rate = learning_rate
    state.seeds = [np.asarray(keras.ops.convert_to_numpy(g.state)).tolist() for g in seed_generators(model)]
    run.write_json(f"{layout.CHECKPOINT}/{layout.CHECKPOINT_STATE}", asdict(state))
    write_history(run, state.history)
    run.update_metrics(epochs=state.epoch, best_epoch=state.best_epoch)
    if previous and previous != name:
        (folder / previous).unlink(missing_ok=True)


def checkpoint_epoch(run: RunDir) -> int:
    """The epochs the run's last checkpoint completed (0 without one)."""
    path = run.path / layout.CHECKPOINT / layout.CHECKPOINT_STATE
    return int(read_json(path).get("epoch", 0)) if path.exists() else 0


def load_checkpoint(run: RunDir, model: keras.Model) -> Checkpoint:
    """The counters of the run's last checkpoint, with its weights, optimizer state and seeds loaded into `model`."""
    path = run.path / layout.CHECKPOINT / layout.CHECKPOINT_STATE
    if not path.exists():
        raise KprotoError(
            f"{run.path} has no checkpoint to resume from",
            field="--resume",
            hint="the run stopped before its first epoch finished; start it again with kproto train",
        )
    state = Checkpoint(**read_json(path))
    model_file = run.path / layout.CHECKPOINT / state.model_file
    model.optimizer.build(model.trainable_variables)
    check_model_file(model_file)
    model.load_weights(model_file)
    for generator, value in zip(seed_generators(model), state.seeds):
        generator.state.assign(np.asarray(value, dtype=generator.state.dtype))
    return state


def write_history(run: RunDir, history: list[dict[str, Any]]) -> None:
    """history.csv: one row per epoch, every column any epoch logged."""
    columns: list[str] = []
    for row in history:
        columns += [k for k in row if k not in columns]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns)
    writer.writeheader()
    writer.writerows(history)
    run.write_text(layout.HISTORY, buffer.getvalue())
