"""Autoencoder family: a dense or convolutional encoder, a code layer named "bottleneck", and a mirrored decoder.

The target is the input itself. The encoder is recoverable from any saved autoencoder with `encoder(model)`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from kproto.core.fields import ModelBase, PositiveInt

if TYPE_CHECKING:
    import keras

    from kproto.data.types import DataInfo

from kproto.core import catalog
from kproto.core.errors import RecipeError
from kproto.models.common import activation, layer_kwargs

BOTTLENECK = "bottleneck"


# ----------------------------------------------------------------------------- recipe section
class Autoencoder(ModelBase):
    type: Literal["autoencoder"]
    units: list[PositiveInt] = Field([128, 64], description="Encoder layers (mirrored in the decoder).")
    bottleneck: PositiveInt = Field(16, description="Size of the code.")
    convolutional: bool = Field(False, description="Conv2D encoder/decoder for image data.")
    filters: list[PositiveInt] = Field([32, 64], description="Filters of the convolutional encoder.")

    @property
    def fused_capable(self) -> bool:
        """Dense autoencoders train in the fused JAX engine; convolutional ones with fit."""
        return not self.convolutional

    @property
    def code_size(self) -> int | None:
        return self.bottleneck


# ----------------------------------------------------------------------------- model
def starter(guess: Any) -> list[str]:
    """The `model:` lines `kproto new` writes for this family (after `type:`), commented."""
    return [
        "  units: [128, 64]    # encoder layers, mirrored by the decoder",
        "  bottleneck: 16    # size of the code",
        "  convolutional: false    # true: Conv2D encoder/decoder for images (set data.shape)",
    ]


def _output_activation(spec: Autoencoder, info: DataInfo) -> str:
    """sigmoid for pixels scaled to [0, 1], linear for standardized columns (unless the recipe says otherwise)."""
    if spec.output_activation:
        return activation(spec.output_activation, "model.output_activation")
    return "sigmoid" if info.kind in catalog.IMAGE_KINDS else "linear"


def _dense(spec: Autoencoder, info: DataInfo, inputs: Any) -> Any:
    import keras

    act, kwargs = activation(spec.activation), layer_kwargs(spec)
    x = keras.layers.Flatten(name="flatten")(inputs) if len(info.input_shape) > 1 else inputs
    for i, units in enumerate(spec.units):
        x = keras.layers.Dense(units, activation=act, name=f"encoder_{i}", **kwargs)(x)
        if spec.dropout:
            x = keras.layers.Dropout(spec.dropout)(x)
    x = keras.layers.Dense(spec.bottleneck, name=BOTTLENECK, **kwargs)(x)
    for i, units in enumerate(reversed(spec.units)):
        x = keras.layers.Dense(units, activation=act, name=f"decoder_{i}", **kwargs)(x)
    size = math.prod(info.input_shape)
    x = keras.layers.Dense(size, activation=_output_activation(spec, info), dtype="float32", name="reconstruction")(x)
    if len(info.input_shape) > 1:
        x = keras.layers.Reshape(info.input_shape, name="output")(x)
    return x


def _convolutional(spec: Autoencoder, info: DataInfo, inputs: Any) -> Any:
    import keras

    if len(info.input_shape) != 3:
        raise RecipeError(
            "a convolutional autoencoder needs images (height, width, channels); "
            f"the input shape is {tuple(info.input_shape)}",
            field="model.convolutional",
            hint="set data.shape, e.g. [8, 8, 1], or use convolutional: false",
        )
    act, kwargs = activation(spec.activation), layer_kwargs(spec)
    height, width, channels = info.input_shape
    x = inputs
    for i, filters in enumerate(spec.filters):
        x = keras.layers.Conv2D(
            filters, 3, strides=2, padding="same", activation=act, name=f"encoder_conv_{i}", **kwargs
        )(x)
    h, w, c = (int(d) for d in x.shape[1:])
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(spec.bottleneck, name=BOTTLENECK, **kwargs)(x)
    x = keras.layers.Dense(h * w * c, activation=act, name="decoder_dense", **kwargs)(x)
    x = keras.layers.Reshape((h, w, c))(x)
    for i, filters in enumerate(reversed(spec.filters)):
        x = keras.layers.Conv2DTranspose(
            filters, 3, strides=2, padding="same", activation=act, name=f"decoder_conv_{i}", **kwargs
        )(x)
    extra_h, extra_w = int(x.shape[1]) - height, int(x.shape[2]) - width
    if extra_h or extra_w:
        x = keras.layers.Cropping2D(((extra_h // 2, extra_h - extra_h // 2), (extra_w // 2, extra_w - extra_w // 2)))(x)
    return keras.layers.Conv2D(
        channels, 3, padding="same", activation=_output_activation(spec, info), dtype="float32", name="output"
    )(x)


def build(spec: Autoencoder, info: DataInfo) -> keras.Model:
    """Encoder → `bottleneck` (linear code of `spec.bottleneck` units) → mirrored decoder → input-shaped output."""
    import keras

    if info.task != catalog.RECONSTRUCTION:
        raise RecipeError(
            f"an autoencoder reconstructs its input; it cannot be used for a {info.task} task", field="model.type"
        )
    if spec.convolutional and not catalog.is_image(info.kind):
        raise RecipeError("a convolutional autoencoder needs image data", field="model.convolutional")
    inputs = keras.Input(shape=info.input_shape, name="features")
    outputs = _convolutional(spec, info, inputs) if spec.convolutional else _dense(spec, info, inputs)
    return keras.Model(inputs, outputs, name="autoencoder")


def encoder(model: keras.Model) -> keras.Model:
    """The encoder half of a built or loaded autoencoder: its input → the bottleneck codes."""
    import keras

    try:
        layer = model.get_layer(BOTTLENECK)
    except ValueError:
        from kproto.core.errors import ModelFileError

        raise ModelFileError(
            "this model has no 'bottleneck' layer, so it has no codes to output",
            hint="--encode works on autoencoder runs only",
        ) from None
    return keras.Model(model.inputs, layer.output, name="encoder")
