"""The one place that decides which engine trains a recipe: `get_engine(recipe, dataset, device)`.

It chooses between fit, fused, streaming, distributed and a family's own engine (the GAN's) from the recipe, the
data, the device and the backend, and returns a plan whose `build` makes the engine once the model is compiled.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kproto.core import catalog
from kproto.core.errors import RecipeError
from kproto.recipe.targets import several
from kproto.training.engines.base import Engine, EngineContext

if TYPE_CHECKING:
    from kproto.data.types import Dataset
    from kproto.recipe.schema import Recipe


@dataclass
class EnginePlan:
    """The engine `get_engine` chose: its name (recorded in metrics.json), how data reaches it, and its builder."""

    name: str  # fit, fused or a family's own engine (gan)
    streamed: bool = False  # the training data is on disk: the engine is wrapped to run block by block
    distributed: bool = False  # replicas of a tf.distribute or keras.distribution strategy
    facts: dict[str, Any] = field(default_factory=dict)

    def steps_per_execution(self, requested: int | str, backend: str) -> int:
        """Steps compiled into one call: 1 for the fused engine (its loop is the whole epoch) and on torch."""
        if backend == catalog.TORCH or self.name == "adversarial":  # one step per call (adversarial: one per batch)
            return 1
        if requested == "auto":
            return 1 if self.name == "fused" else 16
        return int(requested)

    def build(self, context: EngineContext) -> Engine:
        """The engine object for a compiled model."""
        engine = _build_inner(self, context)
        if self.streamed:
            from kproto.training.engines.streaming import StreamingEngine

            engine = StreamingEngine(engine, context.encode_labels or (lambda y: y))
        return engine


def _build_inner(plan: EnginePlan, context: EngineContext) -> Engine:
    if plan.name == "gan":
        from kproto.training.engines.gan import GanEngine

        return GanEngine.for_run(context.recipe, context.dataset, context.model, context.run_path, context.should_stop)
    if plan.name == "adversarial":
        from kproto.training.engines.adversarial import AdversarialEngine, make_attacker

        setting, info = context.recipe.train.adversarial, context.dataset.info
        attacker = make_attacker(context.model, setting, info, context.dataset.preprocessor.state, context.recipe.seed)
        return AdversarialEngine(
            context.model, context.batch_size, attacker, setting.ratio, context.recipe.seed, context.should_stop
        )
    if plan.name == "fused":
        from kproto.training.engines.fused import FusedEngine

        return FusedEngine(context.model, context.batch_size, context.should_stop)
    if plan.distributed:
        from kproto.training.engines.distributed import distributed_engine

        return distributed_engine(context.distribution, context.model, context.batch_size, context.should_stop)
    from kproto.training.engines.fit import FitEngine

    return FitEngine(context.model, context.batch_size, context.should_stop)


def get_engine(recipe: Recipe, dataset: Dataset, device: str, backend: str | None = None) -> EnginePlan:
    """The engine for a recipe on this data, device and backend; a RecipeError for an impossible request.

    auto picks a family's own engine where it has one, else fused (one compiled JAX loop per epoch) for
    fused-capable families on JAX with in-memory data on one device, else fit. `device` is 'cpu' or 'gpu'
    (both run every engine; it is recorded for the choice's facts).
    """
    if backend is None:
        import keras

        backend = keras.backend.backend()
    requested = recipe.train.engine
    family = catalog.family(recipe.model.type)
    streamed = _is_streamed(dataset)
    distributed = recipe.train.distribute != "none"
    multi = several(recipe)  # several targets train with fit (named outputs)
    if requested == "fused" and backend != catalog.JAX:
        raise RecipeError(
            "train.engine: fused needs the JAX backend", field="train.engine", hint="use --backend jax or engine: fit"
        )
    if recipe.train.adversarial is not None:  # clean and attacked rows mixed in every batch
        from kproto.training.engines.adversarial import check_supported

        kind, task = (
            (dataset.info.kind, dataset.info.task) if dataset is not None else (catalog.TABLE, catalog.CLASSIFICATION)
        )
        check_supported(recipe, kind, task, requested, streamed)
        return EnginePlan("adversarial", facts={"device": device})
    if family.engine is not None:
        if requested == "fused":
            raise RecipeError(
                f"a {family.name} model trains with its own engine, not fused",
                field="train.engine",
                hint="use engine: auto",
            )
        return EnginePlan(family.engine, streamed=streamed, facts={"device": device})
    if requested != "auto":
        name = requested
    elif backend == catalog.JAX and not distributed and family.fused and recipe.model.fused_capable and not multi:
        name = "fused"
    else:
        name = "fit"
    return EnginePlan(name, streamed=streamed, distributed=distributed, facts={"device": device})


def _is_streamed(dataset: Dataset) -> bool:
    from kproto.data.streaming import is_streamed

    return dataset is not None and is_streamed(dataset.x_train)
