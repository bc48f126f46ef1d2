"""Model families: `build_model(spec, info)` finds the family's module through kproto.core.catalog and calls its `build`.

Each family lives in its own module (its recipe section and its builder), imported only when it is used.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kproto.core import catalog
from kproto.core.errors import RecipeError

if TYPE_CHECKING:
    import keras

    from kproto.core.fields import ModelBase
    from kproto.data.types import DataInfo


def get_builder(name: str) -> Callable[..., Any]:
    """The `build(spec, info)` function of a family, or a RecipeError naming the choices."""
    return importlib.import_module(catalog.family(name).module).build


def check_input(spec: ModelBase, info: DataInfo) -> None:
    """The data's input kind must be among the family's catalog `inputs`; else a RecipeError that says which
    families take it (or the family's own `input_hint`)."""
    entry = catalog.family(spec.type)
    if info.kind == catalog.MIXED:  # columns of several kinds: the family's catalog trait `extra_inputs`
        from kproto.models.inputs import check_several

        return check_several(spec, info)
    if info.kind in entry.inputs:
        return
    takers = [name for name, other in catalog.FAMILIES.items() if info.kind in other.inputs]
    raise RecipeError(
        f"a {entry.name} model takes {' or '.join(entry.inputs)} input; "
        f"this data gives {info.kind} input of shape {list(info.input_shape)}",
        field=spec.input_field,
        hint=spec.input_hint or f"for {info.kind} input use model.type: {', '.join(takers)}",
    )


def build_model(spec: ModelBase, info: DataInfo) -> keras.Model:
    """Build the Keras model for a recipe's `model` section and its data (after checking the family takes it); a
    forecaster of windows normalised per window is the family's network inside kproto.models.forecaster's wrapping."""
    check_input(spec, info)
    if info.kind == catalog.MIXED:
        from kproto.models.inputs import build_several

        return build_several(spec, info)
    forecast = getattr(info, "forecast", None) or {}
    if info.kind == catalog.WINDOW and info.task == catalog.REGRESSION and forecast.get("normalize") == "window":
        from kproto.models.forecaster import window_forecaster

        return window_forecaster(get_builder(spec.type), spec, info)
    return get_builder(spec.type)(spec, info)
