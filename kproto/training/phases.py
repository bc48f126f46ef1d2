"""Two training phases for a pretrained model (fastai's `fine_tune`): the backbone as `model.trainable` says, then,
after `model.fine_tune.after_epochs`, the whole backbone at `learning_rate_factor` times the learning rate.

A phase change recompiles the model (a new optimizer at the lower rate) and the engine is rebuilt. A resumed run
first enters the phase its checkpoint was written in, so the optimizer state it loads fits the trainable weights.
What trains in each phase is recorded in metrics.json under `pretrained.phases`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kproto.core import catalog
from kproto.models.pretrained import phase_of, set_phase, trainable_facts

if TYPE_CHECKING:
    import keras

    from kproto.recipe.schema import Recipe


class Phases:
    """The phase bookkeeping of one pretrained run; `compile(factor)` recompiles at `factor` × the base rate."""

    def __init__(
        self, recipe: Recipe, model: keras.Model, compile: Callable[[float], Any], source: dict[str, Any]
    ) -> None:
        self.spec = recipe.model
        self.model = model
        self.compile = compile
        self.source = source
        self.current = 1
        self.records: list[dict[str, Any]] = []

    @staticmethod
    def applies(recipe: Recipe) -> bool:
        """Whether the recipe's family trains in phases (its catalog trait)."""
        return catalog.family(recipe.model.type).phased

    @property
    def factor(self) -> float:
        fine_tune = self.spec.fine_tune
        return fine_tune.learning_rate_factor if fine_tune is not None and self.current == 2 else 1.0

    def pending(self, epoch: int) -> bool:
        """Whether a later phase is still to come after the 0-based `epoch` (early stopping waits for it)."""
        fine_tune = self.spec.fine_tune
        return fine_tune is not None and epoch + 1 < fine_tune.after_epochs

    def resume(self, completed_epochs: int, previous: dict[str, Any] | None) -> Any:
        """Enter the phase the checkpoint after `completed_epochs` was written in; the new setup, or None."""
        self.records = list((previous or {}).get("phases", []))
        if completed_epochs and phase_of(self.spec, completed_epochs - 1) == 2:
            return self._enter(2, completed_epochs)
        return None

    def start(self, epoch: int) -> Any:
        """Called before each epoch: the new compiled setup when the phase changes here (rebuild the engine)."""
        wanted = phase_of(self.spec, epoch)
        if not self.records:
            self._record(1, epoch)
        if wanted == self.current:
            return None
        return self._enter(wanted, epoch)

    def _enter(self, phase: int, epoch: int) -> Any:
        self.current = phase
        set_phase(self.model, self.spec, phase)
        setup = self.compile(self.factor)
        if not any(record["phase"] == phase for record in self.records):
            self._record(phase, epoch, setup.learning_rate)
        return setup

    def _record(self, phase: int, epoch: int, learning_rate: float | None = None) -> None:
        record = {"phase": phase, "first_epoch": epoch + 1, **trainable_facts(self.model)}
        if learning_rate is not None:
            record["learning_rate"] = learning_rate
        self.records.append(record)

    def metrics(self) -> dict[str, Any]:
        """The `pretrained` entry of metrics.json: the source's provenance and each phase's trainable parts."""
        return {**self.source, "phases": self.records}
