"""Feedforward (MLP) family: Dense layers with optional normalization and dropout."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from kproto.core.fields import Fraction, ModelBase, PositiveInt

if TYPE_CHECKING:
    import keras

from kproto.models.common import activation_layer, layer_kwargs, normalization, output_head


# ----------------------------------------------------------------------------- recipe section
class Feedforward(ModelBase):
    type: Literal["feedforward"]
    units: list[PositiveInt] = Field([256, 128], description="Units of each hidden Dense layer.")
    dropout: Fraction = 0.1
    normalization: Literal["none", "batch", "layer"] = Field("none", description="Normalization after each layer.")


# ----------------------------------------------------------------------------- model
def starter(guess: Any) -> list[str]:
    """The `model:` lines `kproto new` writes for this family (after `type:`), commented."""
    return [
        "  units: [128, 64]    # Dense layers",
        "  activation: relu    # kproto list activations",
        "  dropout: 0.1",
        "  normalization: none    # none, batch or layer",
    ]


def build(spec, info) -> keras.Model:
    """Dense → [norm] → activation → [dropout], once per entry of `spec.units`, then the task head."""
    import keras

    inputs = keras.Input(shape=info.input_shape, name="features")
    x = keras.layers.Flatten()(inputs) if len(info.input_shape) > 1 else inputs
    for i, units in enumerate(spec.units):
        x = keras.layers.Dense(units, name=f"dense_{i}", **layer_kwargs(spec, f"dense_{i}"))(x)
        norm = normalization(spec.normalization)
        if norm is not None:
            x = norm(x)
        x = activation_layer(spec.activation)(x)
        if spec.dropout:
            x = keras.layers.Dropout(spec.dropout)(x)
    return keras.Model(inputs, output_head(x, info, spec), name="feedforward")
