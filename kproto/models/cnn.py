"""CNN family: Conv2D blocks (conv → [batch norm] → activation, pooling, spatial dropout), a head, Dense layers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field

from kproto.core.fields import Fraction, ModelBase, PositiveInt

if TYPE_CHECKING:
    import keras

from kproto.core import catalog
from kproto.core.errors import RecipeError
from kproto.models.common import activation, layer_kwargs, output_head

HEADS = {"global_average": "GlobalAveragePooling2D", "global_max": "GlobalMaxPooling2D", "flatten": "Flatten"}
POOLS = {"max": "MaxPooling2D", "average": "AveragePooling2D"}


# ----------------------------------------------------------------------------- recipe section
class CNN(ModelBase):
    input_field: ClassVar[str] = "data.shape"
    input_hint: ClassVar[str] = (
        "set data.shape (e.g. [8, 8, 1] for 64 pixel columns) or use a folder of images; "
        "for plain table columns use model.type: feedforward"
    )
    type: Literal["cnn"]
    filters: list[PositiveInt] = Field([32, 64], description="Filters of each convolution block.")
    kernel_size: PositiveInt = 3
    convs_per_block: PositiveInt = Field(2, description="Convolutions in each block before pooling.")
    pooling: Literal["max", "average", "none"] = "max"
    batch_norm: bool = True
    spatial_dropout: Fraction = Field(0.0, description="SpatialDropout2D rate after each block.")
    head: Literal["global_average", "global_max", "flatten"] = "global_average"
    dense: list[PositiveInt] = Field([128], description="Dense layers after the convolutions.")
    dropout: Fraction = 0.3


# ----------------------------------------------------------------------------- model
def starter(guess: Any) -> list[str]:
    """The `model:` lines `kproto new` writes for this family (after `type:`), commented."""
    return [
        "  filters: [32, 64]    # one block per entry: Conv2D × convs_per_block, then pooling",
        "  kernel_size: 3",
        "  convs_per_block: 2",
        "  pooling: max    # max, average or none",
        "  batch_norm: true",
        "  head: global_average    # global_average, global_max or flatten",
        "  dense: [128]    # Dense layers after the convolutions",
        "  dropout: 0.3",
    ]


def _image_input(info) -> tuple[keras.KerasTensor, keras.KerasTensor]:
    """The model input and the [H, W, C] tensor the convolutions see (a grayscale [H, W] gets a channel axis)."""
    import keras

    shape = tuple(info.input_shape)
    if len(shape) not in (2, 3):  # the input kind is checked against the catalog before any family builds
        raise RecipeError(
            f"a cnn needs image input [height, width, channels]; "
            f"this data gives {info.kind} input of shape {list(shape)}",
            field=CNN.input_field,
            hint=CNN.input_hint,
        )
    inputs = keras.Input(shape=shape, name="image")
    return inputs, (keras.layers.Reshape((*shape, 1))(inputs) if len(shape) == 2 else inputs)


def build(spec, info) -> keras.Model:
    """`len(filters)` blocks of `convs_per_block` convolutions, each block halving the image (never below 1×1);
    time-series windows get the same blocks in one dimension (causal convolutions over time)."""
    import keras

    act = activation(spec.activation)
    if info.kind == catalog.WINDOW:
        inputs = keras.Input(shape=tuple(info.input_shape), name="sequence")
        x, dims = inputs, 1
    else:
        (inputs, x), dims = _image_input(info), 2
    conv = keras.layers.Conv1D if dims == 1 else keras.layers.Conv2D
    for b, filters in enumerate(spec.filters):
        for c in range(spec.convs_per_block):
            x = conv(
                filters,
                spec.kernel_size,
                padding="causal" if dims == 1 else "same",
                use_bias=not spec.batch_norm,
                name=f"block{b}_conv{c}",
                **layer_kwargs(spec),
            )(x)
            if spec.batch_norm:
                x = keras.layers.BatchNormalization(name=f"block{b}_bn{c}")(x)
            x = keras.layers.Activation(act, name=f"block{b}_act{c}")(x)
        if spec.pooling != "none" and min(x.shape[1 : 1 + dims]) >= 2:
            pool = POOLS[spec.pooling].replace("2D", "1D") if dims == 1 else POOLS[spec.pooling]
            x = getattr(keras.layers, pool)(pool_size=2, name=f"block{b}_pool")(x)
        if spec.spatial_dropout:
            dropout = keras.layers.SpatialDropout1D if dims == 1 else keras.layers.SpatialDropout2D
            x = dropout(spec.spatial_dropout, name=f"block{b}_spatial_dropout")(x)
    head = HEADS[spec.head].replace("2D", "1D") if dims == 1 else HEADS[spec.head]
    x = getattr(keras.layers, head)(name="head")(x)
    for i, units in enumerate(spec.dense):
        if spec.dropout:
            x = keras.layers.Dropout(spec.dropout)(x)
        x = keras.layers.Dense(units, activation=act, name=f"dense_{i}", **layer_kwargs(spec))(x)
    if spec.dropout:
        x = keras.layers.Dropout(spec.dropout)(x)
    return keras.Model(inputs, output_head(x, info, spec), name="cnn")
