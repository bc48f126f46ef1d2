"""What happens after each epoch, one small class per concern, the way Keras splits its callbacks.

The epoch loop (kproto.training.loop) builds the list once and calls `on_epoch_end(epoch, row, state)` on each, in
order: the loss is finite, the monitored value is logged, the best epoch is tracked, the plateau schedule steps, then
(once the epoch is booked in `state`) TensorBoard gets its scalars and the checkpoint is written. Early stopping is
asked last, after the engine and the reporter have seen the epoch. `epoch` is 0-based; `row` is the history row.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from kproto.core.errors import KprotoError, TrainingDiverged
from kproto.runs import layout
from kproto.runs.store import copy_atomic
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
    """Write the resumable checkpoint; when the epoch is the best so far, it becomes the run's model too."""

    run: RunDir
    save: Callable[[Checkpoint], None]
    best: BestEpoch

    def on_epoch_end(self, epoch: int, row: dict[str, Any], state: Checkpoint) -> None:
        self.save(state)
        if self.best.better:  # the best model so far is this epoch's checkpoint: copy it rather than save twice
            copy_atomic(self.run.checkpoints / state.model_file, self.run.path / layout.MODEL)


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
