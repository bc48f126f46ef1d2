"""Model families: `build_model(spec, info)` finds the family's module through kproto.core.catalog and calls its `build`.

Each family lives in its own module (its recipe section and its builder), imported only when it is used.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from kproto.core import catalog


def get_builder(name: str) -> Callable[..., Any]:
    """The `build(spec, info)` function of a family, or a RecipeError naming the choices."""
    return importlib.import_module(catalog.family(name).module).build


def build_model(spec: Any, info: Any) -> Any:
    """Build the Keras model for a recipe's `model` section and its data (a forecaster of windows normalised per
    window is the family's network inside kproto.models.forecaster's wrapping)."""
    forecast = getattr(info, "forecast", None) or {}
    if info.kind == "window" and info.task == "regression" and forecast.get("normalize") == "window":
        from kproto.models.forecaster import window_forecaster

        return window_forecaster(get_builder(spec.type), spec, info)
    return get_builder(spec.type)(spec, info)
