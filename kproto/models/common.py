"""Pieces every family shares: regularizers, activations and the task's output head."""

from __future__ import annotations

from typing import Any

import keras

from kproto.errors import RecipeError


def layer_kwargs(spec: Any) -> dict[str, Any]:
    """Kernel/bias/activity regularizers from the spec's l1, l2 and `regularize` fields."""
    if not (spec.l1 or spec.l2):
        return {}
    make = lambda: keras.regularizers.L1L2(l1=spec.l1, l2=spec.l2)  # noqa: E731
    return {f"{where}_regularizer": make() for where in spec.regularize}


def activation(name: str, field: str = "model.activation") -> str:
    """An activation name, checked through keras.activations.get (the name keeps saved configs readable)."""
    try:
        keras.activations.get(name)
        return name
    except ValueError:
        raise RecipeError(f"unknown activation '{name}'", field=field) from None


def output_head(x: Any, info: Any, spec: Any) -> Any:
    """The output layer that fits the task: softmax over classes, or a rescaled linear unit."""
    if info.task == "classification":
        act = spec.output_activation or "softmax"
        return keras.layers.Dense(info.num_classes, activation=act, dtype="float32", name="output")(x)
    if info.task == "regression":
        y = keras.layers.Dense(1, activation=spec.output_activation, dtype="float32", name="output_raw")(x)
        return keras.layers.Rescaling(scale=info.target_std, offset=info.target_mean, dtype="float32", name="output")(y)
    raise RecipeError(f"a {spec.type} model cannot be used for a {info.task} task", field="model.type")


def normalization(kind: str, name: str | None = None) -> keras.layers.Layer | None:
    if kind == "batch":
        return keras.layers.BatchNormalization(name=name)
    if kind == "layer":
        return keras.layers.LayerNormalization(name=name)
    return None
