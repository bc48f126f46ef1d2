"""The plain engine: Keras `model.fit` for one epoch at a time, on data the caller has ordered."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import keras
import numpy as np

from kproto.training.ema import averaging_optimizers
from kproto.training.engines.base import Engine


class _Progress(keras.callbacks.Callback):
    """Forwards batch progress at most every 0.1 s and stops on a stop request or a non-finite loss."""

    def __init__(
        self, total: int, on_progress: Callable[[int, int], None] | None, should_stop: Callable[[], bool]
    ) -> None:
        super().__init__()
        self.total = total
        self.on_progress = on_progress
        self.should_stop = should_stop
        self.last = 0.0
        self.nonfinite = False

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if self.should_stop():
            self.model.stop_training = True
        now = time.monotonic()
        if now - self.last < 0.1:  # reading the loss waits for the device: at most ten times a second
            return
        self.last = now
        if self.on_progress is not None:
            self.on_progress(batch + 1, self.total)
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.nonfinite = True
            self.model.stop_training = True


class _KeepTrained(keras.callbacks.Callback):
    """Copies the trained weights at the end of the epoch, before `fit` ends by writing an optimizer's moving
    averages (`use_ema`) over them; `restore` puts them back, so the next epoch trains on from them (the training loop
    shows the averages between epochs: kproto.training.ema)."""

    def __init__(self) -> None:
        super().__init__()
        self.trained: list[np.ndarray] = []

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.trained = [keras.ops.convert_to_numpy(v) for v in self.model.trainable_weights]

    def restore(self) -> None:
        for variable, value in zip(self.model.trainable_weights, self.trained, strict=True):
            variable.assign(value)


class FitEngine(Engine):
    """Trains with model.fit (one call per epoch, no shuffling of its own) and evaluates with model.evaluate."""

    name = "fit"

    def __init__(self, model: keras.Model, batch_size: int, should_stop: Callable[[], bool] = lambda: False) -> None:
        self.model = model
        self.batch_size = batch_size
        super().__init__(should_stop)

    def train_epoch(
        self,
        x: np.ndarray,
        y: np.ndarray,
        order: np.ndarray,
        sample_weight: np.ndarray | None = None,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> dict[str, float]:
        steps = math.ceil(len(order) / self.batch_size)
        progress = _Progress(steps, on_progress, self.should_stop)
        keep = _KeepTrained() if averaging_optimizers(self.model) else None
        history = self.model.fit(
            x[order],
            _rows(y, order),
            sample_weight=_rows(sample_weight, order),
            batch_size=self.batch_size,
            epochs=1,
            shuffle=False,
            verbose=0,
            callbacks=[progress] if keep is None else [progress, keep],
        )
        if keep is not None and keep.trained:
            keep.restore()
        if on_progress is not None:
            on_progress(steps, steps)
        return {k: float(v[-1]) for k, v in history.history.items()}

    def evaluate(self, x: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None) -> dict[str, float]:
        if len(x) == 0:
            return {}
        logs = self.model.evaluate(
            x, y, sample_weight=sample_weight, batch_size=max(self.batch_size, 256), verbose=0, return_dict=True
        )
        return {k: float(v) for k, v in logs.items()}


def _rows(values: Any, order: np.ndarray) -> Any:
    """`values` in `order`: an array, {target: array} (several targets) or None."""
    if isinstance(values, dict):
        return {name: array[order] for name, array in values.items()}
    return None if values is None else values[order]
