"""Averaged weights (`train.optimizer.use_ema: true`) seen by everything that judges an epoch.

A Keras optimizer with `use_ema` keeps an exponential moving average of the trainable weights beside them; `model.fit`
puts the average into the model only when it ends. kproto's loop trains one epoch at a time, so left alone the
average would either never be validated (the fused engine, early stopping's `restore_best` then putting the best
epoch's raw weights back) or replace the weights being trained after every epoch (one `fit` call per epoch).

`AveragedWeights` swaps the two sets in place between epochs instead, as `keras.callbacks.SwapEMAWeights` does:
after an epoch's training steps the model holds the average, so batch-norm re-estimation, validation, the best epoch,
checkpoints and the final model all see it; before the next epoch's steps the trained weights go back. A checkpoint
is written while the average is in the model (its optimizer holds the trained weights), and `Checkpoint.averaged`
says so, so a resumed run swaps back before training on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import keras


def averaging_optimizers(model: keras.Model) -> list[Any]:
    """The model's optimizers that keep a moving average of its weights (empty when `use_ema` is off)."""
    optimizer = getattr(model, "optimizer", None)
    optimizer = getattr(optimizer, "inner_optimizer", optimizer)  # loss scaling wraps the real one
    found = list(getattr(optimizer, "optimizers", None) or [optimizer])
    return [o for o in found if o is not None and getattr(o, "use_ema", False)]


class AveragedWeights:
    """Swaps a model's trained weights with its optimizer's moving averages, and knows which are in the model."""

    def __init__(self, optimizers: list[Any], averaged: bool = False) -> None:
        self.optimizers = optimizers
        self.averaged = averaged  # True while the model holds the averages

    @classmethod
    def of(cls, model: keras.Model, averaged: bool = False) -> AveragedWeights | None:
        """The swapper for `model`, or None when its optimizer keeps no average."""
        found = averaging_optimizers(model)
        return cls(found, averaged) if found else None

    def show_average(self) -> None:
        """Put the averages in the model (after an epoch's training steps)."""
        if not self.averaged:
            self._swap()
            self.averaged = True

    def show_trained(self) -> None:
        """Put the trained weights back in the model (before an epoch's training steps)."""
        if self.averaged:
            self._swap()
            self.averaged = False

    def finalize(self) -> None:
        """After the last epoch: the model keeps the averages, and the optimizer's averages equal them, as after
        `model.fit` (so an engine's own end-of-training step that writes the averages in changes nothing)."""
        self.show_average()
        for optimizer in self.optimizers:
            for variable, average in self._pairs(optimizer):
                average.assign(variable)

    def _swap(self) -> None:
        import keras

        for optimizer in self.optimizers:
            for variable, average in self._pairs(optimizer):
                trained = keras.ops.convert_to_numpy(variable)
                variable.assign(average)
                average.assign(trained)

    @staticmethod
    def _pairs(optimizer: Any) -> list[tuple[Any, Any]]:
        averages = getattr(optimizer, "_model_variables_moving_average", None)
        if not averages:  # not built yet: no step has run, so there is no average to show
            return []
        return list(zip(optimizer._trainable_variables, averages, strict=True))
