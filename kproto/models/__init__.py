"""Model families: a registry from `model.type` to a `build(spec, data_info) -> keras.Model` function.

Each family lives in its own module, imported only when a model of that family is built.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from kproto.errors import RecipeError, not_one_of

FAMILIES: dict[str, str] = {
    "feedforward": "kproto.models.feedforward",
    "cnn": "kproto.models.cnn",
    "rnn": "kproto.models.recurrent",
    "gru": "kproto.models.recurrent",
    "lstm": "kproto.models.recurrent",
    "transformer": "kproto.models.transformer",
    "autoencoder": "kproto.models.autoencoder",
    "gan": "kproto.models.gan",
    "sequential": "kproto.models.sequential",
}


def get_builder(name: str) -> Callable[..., Any]:
    """The `build` function of a family, or a RecipeError naming the choices."""
    if name not in FAMILIES:
        raise RecipeError(f"unknown model type: {not_one_of(name, list(FAMILIES))}", field="model.type")
    return importlib.import_module(FAMILIES[name]).build


def build_model(spec: Any, info: Any) -> Any:
    """Build the Keras model for a recipe's `model` section and its data."""
    return get_builder(spec.type)(spec, info)
