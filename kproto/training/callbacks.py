"""What happens after each epoch, one small class per concern, the way Keras splits its callbacks.

The epoch loop (kproto.training.loop) builds the list once and calls `on_epoch_end(epoch, row, state)` on each, in
order: the loss is finite, the monitored value is logged, the best epoch is tracked, the plateau schedule steps, then
(once the epoch is booked in `state`) TensorBoard gets its scalars and the checkpoint is written. Early stopping is
asked last, after the engine and the reporter have seen the epoch. `epoch` is 0-based; `row` is the history row.
PreciseBatchNorm runs earlier, between an epoch's training and its validation (`refresh`), so that the validation
of every epoch already uses batch-norm statistics of that epoch's weights.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from kproto.core import catalog
from kproto.core.errors import KprotoError, TrainingDiverged
from kproto.runs import layout
from kproto.runs.store import copy_atomic, save_model_atomic
from kproto.training.checkpoint import CHECKPOINT_SECONDS
from kproto.training.controls import Plateau, improved

if TYPE_CHECKING:
    import keras

    from kproto.recipe.schema import EarlyStopping as EarlyStoppingSettings
    from kproto.runs.store import RunDir
    from kproto.training.checkpoint import Checkpoint
    from kproto.training.eventlog import EventLog

ROW_FACTS = ("epoch", "learning_rate", "seconds")  # history columns the loop adds to the engine's logs


class EpochCallback(Protocol):
    """One concern of the end of an epoch."""

    def on_epoch_end(self, epoch: int, row: dict[str, Any], state: Checkpoint) -> None: ...


@dataclass
class FiniteLoss:
    """Stop with TrainingDiverged when a loss became NaN or infinite (Keras's TerminateOnNaN, with advice)."""

    run_path: Path

    def on_epoch_end(self, epoch: int, row: dict[str, Any], state: Checkpoint) -> None:
        bad = [k for k, v in row.items() if k not in ROW_FACTS and "loss" in k and not math.isfinite(v)]
        if not bad:
            return
        kept = (
            f"the best model so far and the checkpoint of epoch {state.epoch} are kept in {self.run_path}"
            if state.epoch
            else "no epoch finished, so nothing was saved"
        )
        raise TrainingDiverged(
            f"the {bad[0]} became {row[bad[0]]} in epoch {epoch + 1}; training stopped",
            hint="this usually means the learning rate is too high or the inputs are unscaled (try a 10x "
            f"smaller learning_rate); {kept}",
        )


@dataclass
class MonitorLogged:
    """The value early stopping and the best epoch watch must be among the logged values."""

    monitor: str

    def on_epoch_end(self, epoch: int, row: dict[str, Any], state: Checkpoint) -> None:
        if self.monitor not in row:
            raise KprotoError(
                f"early_stopping.monitor '{self.monitor}' is not a logged value",
                field="train.early_stopping.monitor",
                hint=f"logged: {', '.join(k for k in row if k not in ('epoch', 'seconds'))}",
            )


@dataclass
class BestEpoch:
    """Track the best epoch of the monitored value (and its weights, for restore_best) and the epochs since."""

    model: keras.Model
    monitor: str
    min_delta: float = 0.0
    better: bool = False  # this epoch improved on the best so far
    weights: list[Any] | None = None  # the best epoch's weights, once an epoch of this session was best

    def on_epoch_end(self, epoch: int, row: dict[str, Any], state: Checkpoint) -> None:
        value = float(row[self.monitor])
        self.better = improved(self.monitor, value, state.best, self.min_delta)
        if self.better:
            state.best, state.best_epoch, state.wait = value, epoch + 1, 0
            self.weights = self.model.get_weights()
        else:
            state.wait += 1

    def save_best(self, path: Path) -> None:
        """Save the model with the best epoch's weights to `path`, then put the current weights back."""
        if self.weights is None:
            return
        current = self.model.get_weights()
        self.model.set_weights(self.weights)
        try:
            save_model_atomic(self.model, path)
        finally:
            self.model.set_weights(current)


@dataclass
class PlateauSchedule:
    """ReduceLROnPlateau: cut the optimizer's rate when the monitored value stalls (not during a warm-up)."""

    plateau: Plateau
    model: keras.Model
    warming: Callable[[int], bool]  # True while the schedule's warm-up sets the rate in this epoch
    current_rate: Callable[[], float]
    report: Callable[[str], None]

    def on_epoch_end(self, epoch: int, row: dict[str, Any], state: Checkpoint) -> None:
        if self.warming(epoch):
            return
        rate = self.plateau.step(row, state, self.current_rate())
        if rate is not None:
            self.model.optimizer.learning_rate = rate
            self.report(f"plateau: learning rate reduced to {rate:.3g}")


@dataclass
class TensorBoard:
    """One scalar per logged value and epoch in the run's tensorboard folder."""

    events: EventLog

    def on_epoch_end(self, epoch: int, row: dict[str, Any], state: Checkpoint) -> None:
        self.events.epoch(row)


@dataclass
class Checkpoints:
    """Log every epoch (history.csv, metrics.json); write the resumable checkpoint after the first epoch, then at most
    every `every` seconds, and when training ends (`flush`). Each checkpoint brings the run's model file up to the
    best epoch so far, so a resumed run finds the best model of the epochs its checkpoint holds."""

    run: RunDir
    save: Callable[[Checkpoint], None]  # model, optimizer and state.json (and the log)
    log: Callable[[Checkpoint], None]  # history.csv and metrics.json only
    best: BestEpoch
    every: float = CHECKPOINT_SECONDS
    clock: Callable[[], float] = time.monotonic
    last: float | None = None  # when the last checkpoint was written
    saved_epoch: int = 0  # the epochs it holds
    model_behind: bool = False  # an epoch since then was the best: the run's model file lags behind

    def on_epoch_end(self, epoch: int, row: dict[str, Any], state: Checkpoint) -> None:
        self.model_behind = self.model_behind or self.best.better
        if self.last is None or self.clock() - self.last >= self.every:
            self.flush(state)
        else:
            self.log(state)

    def flush(self, state: Checkpoint) -> None:
        """Write the checkpoint of `state` (once per epoch) and the best model so far."""
        if self.saved_epoch == state.epoch:
            return
        self.save(state)
        if self.model_behind:
            target = self.run.path / layout.MODEL
            if self.best.better:  # the best model is this epoch's checkpoint: copy it rather than save twice
                copy_atomic(self.run.checkpoints / state.model_file, target)
            else:
                self.best.save_best(target)
        self.last, self.saved_epoch, self.model_behind = self.clock(), state.epoch, False


@dataclass
class EarlyStop:
    """Stop when the monitored value has not improved for `patience` epochs (never before a pending phase)."""

    settings: EarlyStoppingSettings | None
    monitor: str
    pending_phase: Callable[[int], bool] = field(default=lambda epoch: False)

    def should_stop(self, epoch: int, state: Checkpoint) -> bool:
        settings = self.settings
        return bool(settings and state.wait >= settings.patience and not self.pending_phase(epoch))

    def message(self, state: Checkpoint) -> str:
        patience = self.settings.patience if self.settings else 0
        return f"early stopping: {self.monitor} has not improved for {patience} epochs (best: epoch {state.best_epoch})"


PRECISE_BN_ROWS = 4096  # training rows whose statistics replace the moving averages after each epoch (at most)


def trainable_batch_norms(model: keras.Model) -> list[keras.layers.BatchNormalization]:
    """The BatchNormalization layers of `model` (nested ones too) whose moving statistics training updates."""
    import keras

    found = []
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, keras.layers.BatchNormalization) and layer.trainable:
            found.append(layer)
    return found


def _rows(x: Any, idx: np.ndarray) -> Any:
    """Rows `idx` of an input array, or of each array of a dict/list of inputs."""
    if isinstance(x, dict):
        return {k: np.asarray(v)[idx] for k, v in x.items()}
    if isinstance(x, list | tuple):
        return type(x)(np.asarray(v)[idx] for v in x)
    return np.asarray(x)[idx]


@dataclass
class PreciseBatchNorm:
    """Re-estimate the BatchNormalization statistics on training batches after each epoch ("precise BN").

    The moving averages (momentum 0.99) cover about 100 steps of weights that change under them: with few steps an
    epoch, the inference-mode statistics lag the model and validation accuracy stays near chance while training
    accuracy climbs. After each epoch's training, and before its validation, the model runs forward in training mode
    (as the layers saw their inputs in training) on up to PRECISE_BN_ROWS training rows in batches of the training
    batch size, without changing any weight; each layer's moving mean and variance become the population mean and
    variance of its inputs over those batches. Works on every backend, through any engine that keeps the model's
    variables current between epochs (fit, fused).
    """

    model: keras.Model
    batch_size: int
    max_rows: int = PRECISE_BN_ROWS
    layers: list[Any] = field(default_factory=list)
    _forward: Callable[..., Any] | None = None

    def __post_init__(self) -> None:
        if not self.layers:
            self.layers = trainable_batch_norms(self.model)

    def rows_used(self, n_train: int) -> int:
        """How many training rows refresh the statistics: full batches of up to max_rows (all rows if fewer)."""
        n = min(n_train, self.max_rows)
        return n if n < self.batch_size else n - n % self.batch_size

    def refresh(self, x: Any, order: np.ndarray) -> None:
        """Replace the moving statistics with those of the training rows `order[:rows_used]`, in batches."""
        if not self.layers:
            return
        import keras

        model = self.model
        position = {id(v): i for i, v in enumerate(model.non_trainable_variables)}
        slots = [(position[id(layer.moving_mean)], position[id(layer.moving_variance)]) for layer in self.layers]
        n = self.rows_used(len(order))
        if n == 0:
            return
        forward = self._compiled()
        momenta = [layer.momentum for layer in self.layers]
        trainable = [v.value for v in model.trainable_variables]
        non_trainable = [v.value for v in model.non_trainable_variables]
        sums = [[0.0, 0.0, 0.0] for _ in self.layers]  # per layer: rows, sum of n*mean, sum of n*(var + mean^2)
        try:
            for layer in self.layers:
                layer.momentum = 0.0  # one forward pass leaves the batch's own statistics in the moving variables
            for start in range(0, n, self.batch_size):
                idx = order[start : min(start + self.batch_size, n)]
                updated = forward(trainable, non_trainable, _rows(x, idx))
                for acc, (i_mean, i_var) in zip(sums, slots, strict=True):
                    mean = np.asarray(keras.ops.convert_to_numpy(updated[i_mean]), dtype=np.float64)
                    var = np.asarray(keras.ops.convert_to_numpy(updated[i_var]), dtype=np.float64)
                    acc[0] += len(idx)
                    acc[1] = acc[1] + len(idx) * mean
                    acc[2] = acc[2] + len(idx) * (var + mean**2)
        finally:
            for layer, momentum in zip(self.layers, momenta, strict=True):
                layer.momentum = momentum
        for layer, (rows, total, squares) in zip(self.layers, sums, strict=True):
            mean = total / rows
            layer.moving_mean.assign(mean.astype(np.float32))
            layer.moving_variance.assign(np.maximum(squares / rows - mean**2, 0.0).astype(np.float32))

    def _compiled(self) -> Callable[..., Any]:
        """The model's stateless training-mode forward pass, returning its updated non-trainable values (compiled
        on JAX and TensorFlow)."""
        if self._forward is None:
            import keras

            model = self.model

            def forward(trainable: list[Any], non_trainable: list[Any], x: Any) -> list[Any]:
                _, updated = model.stateless_call(trainable, non_trainable, x, training=True)
                return updated

            if keras.backend.backend() == catalog.JAX:
                import jax

                forward = jax.jit(forward)
            elif keras.backend.backend() == catalog.TENSORFLOW:
                import tensorflow as tf

                forward = tf.function(forward, reduce_retracing=True)
            self._forward = forward
        return self._forward
