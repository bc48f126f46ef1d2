"""GAN family: a dense generator and a dense discriminator, optionally conditioned on the class label.

`build` returns the generator (the model a run saves as model.keras, predicts with and exports); the
discriminator comes from `build_discriminator` and is trained beside it by kproto.gan.GanEngine.
A conditional generator takes one input, the noise followed by the label's one-hot vector, so that it
exports like any single-input model; the discriminator likewise takes the flattened sample followed by
the one-hot label.
"""

from __future__ import annotations

import math
from typing import Any

import keras

from kproto.errors import RecipeError
from kproto.models.common import activation


def label_width(spec: Any, info: Any) -> int:
    """How many one-hot label columns follow the noise (0 for an unconditional GAN)."""
    if not spec.conditional:
        return 0
    if info.num_classes < 2:
        raise RecipeError(
            "a conditional GAN needs class labels, but the data has no classification target",
            field="model.conditional",
            hint="set data.target to the label column, or conditional: false",
        )
    return info.num_classes


def _stack(x: Any, part: Any, prefix: str, field: str) -> Any:
    act = activation(part.activation, f"{field}.activation")
    for i, units in enumerate(part.units):
        x = keras.layers.Dense(units, name=f"{prefix}_dense_{i}")(x)
        if part.batch_norm:
            x = keras.layers.BatchNormalization(name=f"{prefix}_norm_{i}")(x)
        x = keras.layers.Activation(act, name=f"{prefix}_act_{i}")(x)
        if part.dropout:
            x = keras.layers.Dropout(part.dropout, name=f"{prefix}_dropout_{i}")(x)
    return x


def build(spec: Any, info: Any) -> keras.Model:
    """The generator: noise (+ one-hot label) → dense stack → a sample shaped like one input row."""
    if info.task != "generation":
        raise RecipeError(f"a GAN generates samples; it cannot be used for a {info.task} task", field="model.type")
    if info.kind not in ("tabular", "image"):
        raise RecipeError(
            f"a GAN generates numeric rows or images from pixel columns, not {info.kind} data", field="model.type"
        )
    classes = label_width(spec, info)
    inputs = keras.Input(shape=(spec.latent_dim + classes,), name="latent")
    x = _stack(inputs, spec.generator, "generator", "model.generator")
    # Pixels are scaled to [0, 1]; standardized columns are unbounded.
    out_act = spec.output_activation or ("sigmoid" if info.kind == "image" else "linear")
    x = keras.layers.Dense(
        math.prod(info.input_shape),
        activation=activation(out_act, "model.output_activation"),
        dtype="float32",
        name="sample",
    )(x)
    if len(info.input_shape) > 1:
        x = keras.layers.Reshape(info.input_shape, name="output")(x)
    # The name tells a loaded generator's users that the input ends with a one-hot label (kproto.gan.latent_layout).
    return keras.Model(inputs, x, name="conditional_generator" if classes else "generator")


def build_discriminator(spec: Any, info: Any) -> keras.Model:
    """The discriminator: flattened sample (+ one-hot label) → dense stack → one logit (real > 0)."""
    inputs = keras.Input(shape=(math.prod(info.input_shape) + label_width(spec, info),), name="sample")
    x = _stack(inputs, spec.discriminator, "discriminator", "model.discriminator")
    logit = keras.layers.Dense(1, dtype="float32", name="logit")(x)
    return keras.Model(inputs, logit, name="discriminator")
