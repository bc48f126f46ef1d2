"""GAN family: a dense generator and a dense discriminator, optionally conditioned on the class label.

`build` returns the generator (the model a run saves as model.keras, predicts with and exports); the
discriminator comes from `build_discriminator` and is trained beside it by kproto.training.engines.gan.GanEngine.
A conditional generator takes one input, the noise followed by the label's one-hot vector, so that it
exports like any single-input model; the discriminator likewise takes the flattened sample followed by
the one-hot label.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from kproto.core.fields import Fraction, ModelBase, PositiveInt, Strict

if TYPE_CHECKING:
    import keras

    from kproto.data.preprocess import Preprocessor
    from kproto.data.types import DataInfo

from kproto.core import catalog
from kproto.core.errors import RecipeError
from kproto.models.common import activation


# ----------------------------------------------------------------------------- recipe section
class GanPart(Strict):
    units: list[PositiveInt] = Field([128, 256], description="Dense layers.")
    activation: str = "leaky_relu"
    dropout: Fraction = 0.0
    batch_norm: bool = False


class GAN(ModelBase):
    type: Literal["gan"]
    latent_dim: PositiveInt = Field(32, description="Size of the generator's noise input.")
    generator: GanPart = Field(default_factory=lambda: GanPart(units=[128, 256], batch_norm=True))
    discriminator: GanPart = Field(default_factory=lambda: GanPart(units=[256, 128], dropout=0.3))
    conditional: bool = Field(False, description="Condition both networks on the class label (data.target).")
    samples_every: PositiveInt = Field(5, description="Write a sample grid every N epochs.")


# ----------------------------------------------------------------------------- model
def starter(guess: Any) -> list[str]:
    """The `model:` lines `kproto new` writes for this family (after `type:`), commented."""
    return [
        "  latent_dim: 32    # size of the generator's noise input",
        "  generator: {units: [128, 256], batch_norm: true}",
        "  discriminator: {units: [256, 128], dropout: 0.3}",
        "  conditional: false    # true: condition both networks on data.target",
        "  samples_every: 5    # write samples/epoch-NNN.png every N epochs",
    ]


def label_width(spec: GAN, info: DataInfo) -> int:
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
    import keras

    act = activation(part.activation, f"{field}.activation")
    for i, units in enumerate(part.units):
        x = keras.layers.Dense(units, name=f"{prefix}_dense_{i}")(x)
        if part.batch_norm:
            x = keras.layers.BatchNormalization(name=f"{prefix}_norm_{i}")(x)
        x = keras.layers.Activation(act, name=f"{prefix}_act_{i}")(x)
        if part.dropout:
            x = keras.layers.Dropout(part.dropout, name=f"{prefix}_dropout_{i}")(x)
    return x


def build(spec: GAN, info: DataInfo) -> keras.Model:
    """The generator: noise (+ one-hot label) → dense stack → a sample shaped like one input row."""
    import keras

    if info.task != catalog.GENERATION:
        raise RecipeError(f"a GAN generates samples; it cannot be used for a {info.task} task", field="model.type")
    classes = label_width(spec, info)
    inputs = keras.Input(shape=(spec.latent_dim + classes,), name="latent")
    x = _stack(inputs, spec.generator, "generator", "model.generator")
    # Pixels are scaled to [0, 1]; standardized columns are unbounded.
    out_act = spec.output_activation or ("sigmoid" if info.kind == catalog.IMAGE else "linear")
    x = keras.layers.Dense(
        math.prod(info.input_shape),
        activation=activation(out_act, "model.output_activation"),
        dtype="float32",
        name="sample",
    )(x)
    if len(info.input_shape) > 1:
        x = keras.layers.Reshape(info.input_shape, name="output")(x)
    # The name tells a loaded generator's users that the input ends with a one-hot label (latent_layout below).
    return keras.Model(inputs, x, name="conditional_generator" if classes else "generator")


def build_discriminator(spec: GAN, info: DataInfo) -> keras.Model:
    """The discriminator: flattened sample (+ one-hot label) → dense stack → one logit (real > 0)."""
    import keras

    inputs = keras.Input(shape=(math.prod(info.input_shape) + label_width(spec, info),), name="sample")
    x = _stack(inputs, spec.discriminator, "discriminator", "model.discriminator")
    logit = keras.layers.Dense(1, dtype="float32", name="logit")(x)
    return keras.Model(inputs, logit, name="discriminator")


# ----------------------------------------------------------------------------- sampling
def latent_layout(generator: Any, info: DataInfo) -> tuple[int, int]:
    """(noise size, one-hot label width) of a generator's single input."""
    width = int(generator.inputs[0].shape[-1])
    classes = info.num_classes if generator.name.startswith("conditional") else 0
    return width - classes, classes


def latent_batch(generator: Any, info: DataInfo, count: int, seed: int, labels: Any = None) -> tuple[Any, Any]:
    """Generator inputs for `count` samples: seeded normal noise (+ one-hot labels, cycling through the classes).

    Returns the float32 input array and the class index of each row (None for an unconditional generator).
    """
    import numpy as np

    latent, classes = latent_layout(generator, info)
    noise = np.random.default_rng(seed).standard_normal((count, latent)).astype(np.float32)
    if not classes:
        return noise, None
    if labels is None:
        labels = np.arange(count) % classes
    return np.concatenate([noise, np.eye(classes, dtype=np.float32)[labels]], axis=1), labels


def generate(generator: Any, info: DataInfo, count: int, seed: int, labels: Any = None) -> tuple[Any, Any]:
    """`count` samples in the model's (scaled) input space, and the class index each was conditioned on."""
    import numpy as np

    z, labels = latent_batch(generator, info, count, seed, labels)
    return np.asarray(generator.predict(z, batch_size=256, verbose=0), dtype=np.float32), labels


# ----------------------------------------------------------------------------- samples as the data's columns
SAMPLE_TABLE_ROWS, SAMPLE_TABLE_COLUMNS = 12, 8  # how much of a tabular sample a picture shows


def inverse_features(pre: Preprocessor, x: Any) -> Any:
    """Scaled samples → a DataFrame of the original feature columns (pixels or numeric/categorical columns).

    `pre` is the run's fitted preprocessing (kproto.data.Preprocessor): its `kind` and `state`.
    """
    import numpy as np
    import pandas as pd

    from kproto.data.preprocess import unstandardize

    flat = x.reshape(len(x), -1)
    if pre.kind == catalog.IMAGE:
        image = pre.state["image"]
        values = flat * ((image["max"] - image["min"]) or 1.0) + image["min"]
        return pd.DataFrame(np.round(values, 4), columns=list(pre.state["features"]))
    if pre.kind != catalog.TABLE:
        raise RecipeError(
            f"samples of {pre.kind} data cannot be mapped back to columns",
            field="model.type",
            hint="a GAN generates tabular rows or images",
        )
    onehot = pre.state.get("categorical", "onehot") == "onehot"
    columns: dict[str, Any] = {}
    at = 0
    for column in pre.state["columns"]:
        if column["type"] == "datetime":  # read back from the elapsed-time feature, the last of its inputs
            width = len(column["features"])
            seconds = flat[:, at + width - 1] * column["std"] + column["mean"]
            columns[column["name"]] = pd.to_datetime(np.round(seconds), unit="s").astype(str).tolist()
            at += width
        elif column["type"] == "numeric":
            columns[column["name"]] = np.round(unstandardize(flat[:, at], column), 6)
            at += 2 if column.get("indicator") else 1  # a missing-value indicator's input is not read back
        elif onehot:
            width = len(column["values"])
            columns[column["name"]] = [column["values"][i] for i in flat[:, at : at + width].argmax(axis=1)]
            at += width
        else:
            codes = np.clip(np.rint(flat[:, at]).astype(int) - 1, 0, max(len(column["values"]) - 1, 0))
            columns[column["name"]] = [column["values"][i] for i in codes]
            at += 1
    return pd.DataFrame(columns)


def class_names(info: DataInfo, labels: Any) -> list[Any] | None:
    """The class name of each conditioned label (None for an unconditional generator or unnamed classes)."""
    if labels is None or not info.class_names:
        return None
    return [info.class_names[i] for i in labels]


def draw_samples(
    x: Any, info: DataInfo, pre: Preprocessor, path: Any, title: str = "", labels: list[Any] | None = None
) -> Any:
    """A PNG of generated samples: an image grid (rows of 10), or the first rows as a table of original values."""
    from kproto.report import plots

    if info.kind == catalog.IMAGE and len(info.input_shape) == 3:
        return plots.image_rows(x, path, title, labels)
    frame = inverse_features(pre, x[:SAMPLE_TABLE_ROWS]).iloc[:, :SAMPLE_TABLE_COLUMNS]
    if labels is not None:
        frame.insert(0, "label", [str(v) for v in labels[:SAMPLE_TABLE_ROWS]])
    return plots.table(frame, path, title)
