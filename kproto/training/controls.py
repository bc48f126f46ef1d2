"""Controls around the epoch loop: the stop flag set by signals, early stopping and the plateau schedule."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kproto.core.catalog import lower_is_better

if TYPE_CHECKING:
    from kproto.recipe.schema import Recipe


@dataclass
class StopFlag:
    """Set by SIGINT/SIGTERM; training stops after the current step."""

    signal_name: str | None = None

    def __call__(self) -> bool:
        return self.signal_name is not None


@contextmanager
def stop_on_signals(flag: StopFlag) -> Iterator[None]:
    """While inside, SIGINT and SIGTERM set `flag` (a second Ctrl-C stops at once); the old handlers come back after."""

    def handler(signum: int, _frame: Any) -> None:
        if flag.signal_name is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        flag.signal_name = signal.Signals(signum).name

    previous = {}
    try:
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, handler)
    except ValueError:  # not in the main thread
        previous = {}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def improved(monitor: str, value: float, best: float | None, min_delta: float = 0.0) -> bool:
    """Whether `value` of the logged `monitor` beats `best` by more than `min_delta` (direction from the catalog)."""
    if best is None:
        return True
    return value < best - min_delta if lower_is_better(monitor) else value > best + min_delta


def monitored(recipe: Recipe, has_validation: bool, own_engine: bool) -> tuple[Any, str]:
    """(early-stopping settings or None, the logged value that picks the best epoch).

    Without a validation split the training loss decides. A family with its own engine (a GAN) has no early stopping:
    its losses don't track sample quality, so the last epoch is kept.
    """
    if own_engine:
        return None, "g_loss"
    stopping = recipe.train.early_stopping
    monitor = (stopping.monitor if stopping else "val_loss") if has_validation else "loss"
    return stopping, monitor


@dataclass
class Plateau:
    """ReduceLROnPlateau as a schedule: cut the rate by `factor` after `patience` epochs without improvement."""

    monitor: str
    patience: int
    factor: float
    min_lr: float

    def step(self, row: dict[str, Any], state: Any, current_rate: float) -> float | None:
        """Update the plateau counters in `state` from this epoch's `row`; the new rate when it is cut, else None."""
        monitor = self.monitor if self.monitor in row else "loss"
        value = float(row[monitor])
        if improved(monitor, value, state.plateau_best):
            state.plateau_best, state.plateau_wait = value, 0
            return None
        state.plateau_wait += 1
        if state.plateau_wait < self.patience:
            return None
        state.plateau_wait = 0
        return max(current_rate * self.factor, self.min_lr)
