"""Pieces every family shares: regularizers, activations and the task's output head."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import keras

    from kproto.core.fields import ModelBase
    from kproto.data.types import DataInfo

from kproto.core import catalog
from kproto.core.errors import RecipeError


def layer_kwargs(spec: ModelBase, name: str | None = None) -> dict[str, Any]:
    """Kernel/bias/activity regularizers for the layer `name`: its `model.layer_regularizers` entry if it has one,
    else the model-wide l1, l2 and `regularize` fields. Families pass the name they give the layer."""
    import keras

    own = spec.layer_regularizers.get(name) if name else None
    source = own if own is not None else spec
    if not (source.l1 or source.l2):
        return {}
    return {f"{where}_regularizer": keras.regularizers.L1L2(l1=source.l1, l2=source.l2) for where in source.regularize}


def activation(name: str, field: str = "model.activation") -> str:
    """An activation name, checked through keras.activations.get (the name keeps saved configs readable)."""
    import keras

    try:
        keras.activations.get(name)
        return name
    except ValueError:
        raise RecipeError(f"unknown activation '{name}'", field=field) from None


def activation_layer(name: str, field: str = "model.activation", layer_name: str | None = None) -> keras.layers.Layer:
    """A layer applying the activation `name`; glu (which halves the width) gets a layer that says so."""
    import keras

    checked = activation(name, field)
    if checked == "glu":
        from kproto.models.layers import GatedLinearUnit

        return GatedLinearUnit(name=layer_name)
    return keras.layers.Activation(checked, name=layer_name)


def output_head(x: Any, info: DataInfo, spec: ModelBase, members: Any = None) -> Any:
    """The output layer that fits the task: softmax over classes, or a rescaled linear unit. For regression,
    `members` ([batch, k, d], the ensemble members whose mean is `x`) are scored by the same linear unit so that
    training adds their spread to the loss (MemberSpread): each member is then trained on its own error."""
    import keras

    if info.task == catalog.MULTI_TARGET:  # data.target: [a, b]: one named head per target
        from kproto.models.heads import named_heads

        return named_heads(x, info, spec)
    if info.task == catalog.CLASSIFICATION:
        act = spec.output_activation or "softmax"
        return keras.layers.Dense(info.num_classes, activation=act, dtype="float32", name="output")(x)
    if info.task == catalog.REGRESSION:
        units = info.output_dim if info.kind == catalog.WINDOW else 1  # a forecast: one output per step of the horizon
        head = keras.layers.Dense(units, activation=spec.output_activation, dtype="float32", name="output_raw")
        y = head(x)  # called on the mean first: the encoders cut at this call's input
        if members is not None:
            from kproto.models.tabular_layers import MemberSpread

            spread = MemberSpread(weight=float(info.target_std) ** 2, dtype="float32", name="ensemble_spread")
            y = spread([y, head(members)])
        return keras.layers.Rescaling(scale=info.target_std, offset=info.target_mean, dtype="float32", name="output")(y)
    raise RecipeError(f"a {spec.type} model cannot be used for a {info.task} task", field="model.type")


def normalization(kind: str, name: str | None = None) -> keras.layers.Layer | None:
    import keras

    if kind == "batch":
        return keras.layers.BatchNormalization(name=name)
    if kind == "layer":
        return keras.layers.LayerNormalization(name=name)
    return None


def packed_layout(info: DataInfo, needed: tuple[str, ...], family: str, data_kind: str, hint: str) -> dict[str, int]:
    """The widths a family packs into its one input array (DataInfo.layout), or a RecipeError naming what is missing."""
    layout = getattr(info, "layout", None) or {}
    missing = [k for k in needed if k not in layout]
    if missing:
        raise RecipeError(
            f"a {family} model needs {data_kind}; the data describes no {', '.join(missing)}",
            field="model.type",
            hint=hint,
        )
    return {k: int(layout[k]) for k in needed}
