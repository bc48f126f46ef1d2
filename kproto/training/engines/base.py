"""The engine contract: what every engine (fit, fused, streaming, distributed, a family's own) provides.

An engine runs one epoch of training and one pass of evaluation over in-memory arrays (or streamed blocks) and
returns the logged values. The training loop (kproto.training) owns everything around it: epochs, checkpoints,
early stopping, signals. Which engine trains a recipe is decided in one place, kproto.training.engines.select.get_engine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import keras

    from kproto.data.types import Dataset
    from kproto.recipe.schema import Recipe

Progress = Callable[[int, int], None]


class Engine:
    """Trains and evaluates one model; subclasses implement train_epoch and evaluate.

    `should_stop` is polled between steps: when it returns True the engine ends the epoch early and the loop
    raises TrainingInterrupted. `end_epoch` runs after each epoch's checkpoint, `finish` once after the last epoch.
    """

    name = "engine"

    def __init__(self, should_stop: Callable[[], bool] = lambda: False) -> None:
        self.should_stop = should_stop

    def train_epoch(
        self,
        x: Any,
        y: np.ndarray | None,
        order: Any,
        sample_weight: np.ndarray | None = None,
        on_progress: Progress | None = None,
    ) -> dict[str, float]:
        """One epoch over the rows of `x` in `order`; the epoch's logs (loss and metrics)."""
        raise NotImplementedError

    def evaluate(self, x: Any, y: np.ndarray | None, sample_weight: np.ndarray | None = None) -> dict[str, float]:
        """Loss and metrics over all rows of `x`."""
        raise NotImplementedError

    def expect_evaluation(self, x: Any, y: np.ndarray | None, sample_weight: np.ndarray | None = None) -> None:
        """A hint before the first epoch: `evaluate(x, y, sample_weight)` follows each epoch (the fused engine
        compiles that pass during the first epoch instead of after it). Evaluating other data stays allowed."""

    def end_epoch(self, epoch: int, epochs: int) -> None:
        """After epoch `epoch` (1-based) of `epochs` is checkpointed: files of the engine's own (GAN samples)."""

    def finish(self) -> None:
        """After the last epoch: final touches to the model (the fused engine swaps in EMA weights)."""


@dataclass
class EngineContext:
    """What building an engine needs beyond the plan: the compiled model and the run it trains in."""

    model: keras.Model
    batch_size: int
    should_stop: Callable[[], bool]
    recipe: Recipe | None = None
    dataset: Dataset | None = None
    distribution: Any = None
    run_path: Any = None
    encode_labels: Callable[[np.ndarray], np.ndarray] | None = None
