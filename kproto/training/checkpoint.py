"""Checkpoints: what a resumed run needs (model and optimizer in a .keras file, counters in state.json)."""

from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from kproto.core.errors import KprotoError, RunError
from kproto.runs import layout
from kproto.runs.load import check_model_file
from kproto.runs.schemas import check_inside, read_run_json
from kproto.runs.store import RunDir, save_model_atomic

STATE_FILE = f"{layout.CHECKPOINT}/{layout.CHECKPOINT_STATE}"
# A run writes its resumable checkpoint (model, optimizer, state.json) after its first epoch, then when at least this
# many seconds passed since the last one, and when training ends: a killed run loses at most this much training. On
# a small table an epoch takes a few hundredths of a second and writing the model file about as long.
CHECKPOINT_SECONDS = 5.0

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
    averaged: bool = False  # use_ema: the model file holds the weight averages, its optimizer the trained weights


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
    run.write_json(STATE_FILE, asdict(state))
    log_epochs(run, state)
    if previous and previous != name:
        (folder / previous).unlink(missing_ok=True)


def log_epochs(run: RunDir, state: Checkpoint) -> None:
    """history.csv and metrics.json's epoch counters, after every epoch (checkpointed or not)."""
    write_history(run, state.history)
    run.update_metrics(epochs=state.epoch, best_epoch=state.best_epoch)


def checkpoint_epoch(run: RunDir) -> int:
    """The epochs the run's last checkpoint completed (0 without one)."""
    path = run.path / layout.CHECKPOINT / layout.CHECKPOINT_STATE
    return int(read_run_json(run.path, STATE_FILE)["epoch"]) if path.exists() or path.is_symlink() else 0


def load_checkpoint(run: RunDir, model: keras.Model) -> Checkpoint:
    """The counters of the run's last checkpoint, with its weights, optimizer state and seeds loaded into `model`."""
    path = run.path / layout.CHECKPOINT / layout.CHECKPOINT_STATE
    if not path.exists() and not path.is_symlink():
        raise KprotoError(
            f"{run.path} has no checkpoint to resume from",
            field="--resume",
            hint="the run stopped before its first epoch finished; start it again with kproto train",
        )
    state = Checkpoint(**read_run_json(run.path, STATE_FILE))  # model_file: a checkpoint name, nothing else
    if not state.model_file:
        raise RunError(f"{path} names no checkpoint model", field="--resume", hint="the run may be corrupted")
    model_file = check_inside(run.path, run.path / layout.CHECKPOINT / state.model_file)
    model.optimizer.build(model.trainable_variables)
    check_model_file(model_file)  # refuses a model that carries code (a Lambda) before Keras reads it
    try:
        model.load_weights(model_file)
    except (ValueError, KeyError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RunError(
            f"the checkpoint {model_file} does not fit this run's model: {first}",
            field="--resume",
            hint="the checkpoint was replaced or corrupted; start the run again with kproto train",
        ) from None
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
