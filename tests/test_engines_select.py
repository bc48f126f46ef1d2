"""kproto.training.engines.select: which engine trains a recipe (family × backend × engine request × distribute × streamed),
the requests it refuses, and what each plan builds. Nothing is trained."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from kproto.core import catalog
from kproto.core.errors import RecipeError
from kproto.recipe.schema import Adversarial, Recipe, Train
from kproto.training.engines.select import EnginePlan, get_engine

MODELS = {
    "feedforward": {"type": "feedforward"},
    "autoencoder": {"type": "autoencoder"},
    "conv-autoencoder": {"type": "autoencoder", "convolutional": True},
    "cnn": {"type": "cnn"},
    "lstm": {"type": "lstm"},
    "transformer": {"type": "transformer"},
    "gan": {"type": "gan"},
}


def recipe(model: str, engine: str = "auto", distribute: str = "none") -> Recipe:
    data = (
        {"path": "rows.csv"}
        if catalog.FAMILIES[MODELS[model]["type"]].generative
        else {"path": "rows.csv", "target": "y"}
    )
    return Recipe.model_validate(
        {"data": data, "model": MODELS[model], "train": {"engine": engine, "distribute": distribute}}
    )


def dataset(streamed: bool, tmp_path: Path) -> SimpleNamespace:
    from kproto.data.streaming import BlockSource

    if not streamed:
        return SimpleNamespace(x_train=np.zeros((8, 3), "float32"))
    path = tmp_path / "x.f32"
    path.write_bytes(np.zeros((8, 3), "float32").tobytes())
    return SimpleNamespace(x_train=BlockSource(path, 8, 3))


# model, backend, engine request, distribute, streamed → plan name (the choice table, written out)
CHOICES = [
    ("feedforward", "jax", "auto", "none", False, "fused"),
    ("feedforward", "jax", "auto", "none", True, "fused"),  # streamed: the fused engine runs block by block
    ("feedforward", "jax", "fit", "none", False, "fit"),
    ("feedforward", "jax", "fused", "none", False, "fused"),
    ("feedforward", "jax", "auto", "data_parallel", False, "fit"),  # replicas train with fit
    ("feedforward", "tensorflow", "auto", "none", False, "fit"),
    ("feedforward", "tensorflow", "auto", "mirrored", False, "fit"),
    ("feedforward", "tensorflow", "auto", "multi_worker", True, "fit"),
    ("feedforward", "torch", "auto", "none", False, "fit"),
    ("autoencoder", "jax", "auto", "none", False, "fused"),
    ("conv-autoencoder", "jax", "auto", "none", False, "fit"),  # convolutional: not fused-capable
    ("conv-autoencoder", "jax", "fused", "none", False, "fused"),  # an explicit request is honoured
    ("cnn", "jax", "auto", "none", False, "fit"),
    ("cnn", "jax", "fused", "none", False, "fused"),
    ("lstm", "jax", "auto", "none", True, "fit"),
    ("transformer", "tensorflow", "auto", "none", False, "fit"),
    ("transformer", "jax", "auto", "none", False, "fit"),
    ("gan", "tensorflow", "auto", "none", False, "gan"),
    ("gan", "jax", "auto", "none", False, "gan"),
    ("gan", "tensorflow", "fit", "none", False, "gan"),  # its own engine whatever fit/auto says
]


@pytest.mark.parametrize(
    ("model", "backend", "engine", "distribute", "streamed", "expected"),
    CHOICES,
    ids=["-".join(str(v) for v in case) for case in CHOICES],
)
def test_engine_choice(
    model: str, backend: str, engine: str, distribute: str, streamed: bool, expected: str, tmp_path: Path
) -> None:
    plan = get_engine(recipe(model, engine, distribute), dataset(streamed, tmp_path), "cpu", backend)
    assert plan.name == expected
    assert plan.streamed is streamed
    assert plan.distributed is (distribute != "none" and expected != "gan")
    assert plan.facts == {"device": "cpu"}


def adversarial(model: str = "feedforward", engine: str = "auto", distribute: str = "none") -> Recipe:
    plain = recipe(model, engine, distribute)
    train = plain.train.model_copy(update={"adversarial": Adversarial(method="fgsm", epsilon=0.1)})
    return plain.model_copy(update={"train": train})


@pytest.mark.parametrize(("backend", "engine"), [("tensorflow", "auto"), ("jax", "auto"), ("jax", "fit")])
def test_adversarial_training_has_its_own_engine(backend: str, engine: str) -> None:
    plan = get_engine(adversarial(engine=engine), None, "cpu", backend)
    assert plan.name == "adversarial" and not plan.streamed and not plan.distributed
    assert plan.steps_per_execution("auto", backend) == 1  # one attacked batch per step


@pytest.mark.parametrize(
    ("engine", "distribute", "streamed", "says", "field"),
    [
        ("fused", "none", False, "fused engine", "train.engine"),
        ("auto", "data_parallel", False, "runs on one device", "train.adversarial"),
        ("auto", "none", True, "cannot stream data from disk", "train.adversarial"),
    ],
)
def test_adversarial_training_refuses_what_it_cannot_do(
    engine: str, distribute: str, streamed: bool, says: str, field: str, tmp_path: Path
) -> None:
    from kproto.core.errors import KprotoError

    data = dataset(streamed, tmp_path)
    data.info = SimpleNamespace(kind="table", task="classification")
    with pytest.raises(KprotoError) as err:
        get_engine(adversarial(engine=engine, distribute=distribute), data, "cpu", "jax")
    assert says in err.value.message and err.value.field == field


def test_no_dataset_means_in_memory() -> None:
    plan = get_engine(recipe("feedforward"), None, "gpu", "jax")
    assert plan.name == "fused" and not plan.streamed and plan.facts == {"device": "gpu"}


@pytest.mark.parametrize("family", list(catalog.FAMILIES))
def test_auto_follows_the_catalog_traits(family: str) -> None:
    """On JAX, on one device, in memory: fused exactly for fused-capable families; a family's own engine first."""
    entry = catalog.FAMILIES[family]
    spec = SimpleNamespace(type=family, fused_capable=True)  # the spec allows it: the family's trait decides
    plan = get_engine(SimpleNamespace(train=Train(), model=spec), None, "cpu", "jax")
    expected = entry.engine or ("fused" if entry.fused else "fit")
    assert plan.name == expected
    assert get_engine(SimpleNamespace(train=Train(), model=spec), None, "cpu", "tensorflow").name == (
        entry.engine or "fit"
    )


@pytest.mark.parametrize(
    ("model", "backend", "engine", "says"),
    [
        ("feedforward", "tensorflow", "fused", "fused needs the JAX backend"),
        ("feedforward", "torch", "fused", "fused needs the JAX backend"),
        ("gan", "jax", "fused", "a gan model trains with its own engine, not fused"),
        ("gan", "tensorflow", "fused", "fused needs the JAX backend"),
    ],
)
def test_impossible_requests_are_recipe_errors(model: str, backend: str, engine: str, says: str) -> None:
    with pytest.raises(RecipeError) as err:
        get_engine(recipe(model, engine), None, "cpu", backend)
    assert says in err.value.message
    assert err.value.field == "train.engine"
    assert err.value.hint


@pytest.mark.parametrize(
    ("name", "requested", "backend", "expected"),
    [
        ("fused", "auto", "jax", 1),  # the fused loop is the whole epoch
        ("fit", "auto", "jax", 16),
        ("fit", "auto", "tensorflow", 16),
        ("gan", "auto", "tensorflow", 16),
        ("fit", 4, "tensorflow", 4),
        ("fused", 8, "jax", 8),
        ("fit", "auto", "torch", 1),  # Keras's torch trainer runs one step per call
        ("fit", 32, "torch", 1),
    ],
)
def test_steps_per_execution(name: str, requested: int | str, backend: str, expected: int) -> None:
    assert EnginePlan(name).steps_per_execution(requested, backend) == expected


def tiny_model() -> Any:
    import keras

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
    return model


def test_plans_build_their_engines(tmp_path: Path) -> None:
    from kproto.training.engines.base import Engine, EngineContext
    from kproto.training.engines.distributed import DistributedFitEngine
    from kproto.training.engines.fit import FitEngine
    from kproto.training.engines.streaming import StreamingEngine

    context = EngineContext(tiny_model(), 4, lambda: False, encode_labels=lambda y: y)
    fit = EnginePlan("fit").build(context)
    assert type(fit) is FitEngine and isinstance(fit, Engine) and fit.batch_size == 4
    streamed = EnginePlan("fit", streamed=True).build(context)
    assert isinstance(streamed, StreamingEngine) and type(streamed.inner) is FitEngine
    assert streamed.name == "streaming+fit"
    mirrored = EnginePlan("fit", distributed=True).build(
        EngineContext(tiny_model(), 4, lambda: False, distribution=SimpleNamespace(mode="mirrored"))
    )
    assert type(mirrored) is DistributedFitEngine
    assert fit.end_epoch(1, 2) is None and fit.finish() is None  # the contract's no-op defaults
