"""Data augmentation as Keras layers at the model input: random in training, identity at inference.

`augmentation_layers(spec.data.augment, info)` turns the recipe's `data.augment` section into layers; a family
builder applies them right after its `keras.Input` (see `apply_augmentation`). Because they live in the model,
they touch only batches seen with training=True (model.fit), never validation, test, predict or exports.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import keras

from kproto.core import catalog
from kproto.core.errors import RecipeError

if TYPE_CHECKING:
    from kproto.data.types import DataInfo

IMAGE_ONLY = ("flip", "rotation", "zoom", "translation", "contrast")


@keras.saving.register_keras_serializable(package="kproto")
class RandomMasking(keras.layers.Layer):
    """Zero a random `rate` share of positions along axis 1 (time steps, tokens or features) while training.

    A whole step is zeroed (all its features); for token ids, 0 is the padding id. Unlike Dropout nothing is
    rescaled: a masked step looks like a missing one.
    """

    def __init__(self, rate: float, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"rate must be in [0, 1); received rate={rate}")
        self.rate = float(rate)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        if not training or self.rate == 0.0:
            return inputs
        shape = keras.ops.shape(inputs)
        keep = keras.random.uniform((shape[0], shape[1]), seed=self.seed_generator) >= self.rate
        keep = keras.ops.reshape(keep, (shape[0], shape[1]) + (1,) * (len(inputs.shape) - 2))
        return inputs * keras.ops.cast(keep, inputs.dtype)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


def _refuse(name: str, kind: str, why: str) -> RecipeError:
    return RecipeError(
        f"data.augment.{name} does not apply to {kind} data: {why}",
        field=f"data.augment.{name}",
        hint="remove it from data.augment",
    )


def augmentation_layers(augment: Any, info: DataInfo) -> list[keras.layers.Layer]:
    """The layers for `data.augment` on this data (in order: geometry, contrast, noise, masking); [] when none.

    Images (kind image/image_folder, [H, W, C] scaled to [0, 1]): flip, rotation, zoom, translation, contrast, noise.
    Sequences: noise (windows; not token ids) and mask (windows and text). Tabular rows: noise and mask (features).
    """
    if augment is None:
        return []
    kind = info.kind
    if kind == catalog.MIXED:  # several inputs arrive packed in one array: no transform reads it as one kind
        raise RecipeError(
            "data.augment does not apply to a model of several inputs (text, image and table columns)",
            field="data.augment",
            hint="remove data.augment",
        )
    is_image = kind in catalog.IMAGE_KINDS and len(info.input_shape) == 3
    layers: list[keras.layers.Layer] = []
    for name in IMAGE_ONLY:
        if getattr(augment, name) is not None and not is_image:
            raise _refuse(name, kind, "it is an image transform (needs [height, width, channels] inputs)")
    if is_image:
        if augment.flip:
            layers.append(keras.layers.RandomFlip(augment.flip, name="augment_flip"))
        if augment.rotation:
            layers.append(keras.layers.RandomRotation(augment.rotation, fill_mode="constant", name="augment_rotation"))
        if augment.zoom:
            layers.append(keras.layers.RandomZoom(augment.zoom, fill_mode="constant", name="augment_zoom"))
        if augment.translation:
            layers.append(
                keras.layers.RandomTranslation(
                    augment.translation, augment.translation, fill_mode="constant", name="augment_translation"
                )
            )
        if augment.contrast:
            layers.append(keras.layers.RandomContrast(augment.contrast, value_range=(0, 1), name="augment_contrast"))
    if augment.noise:
        if kind == catalog.TEXT:
            raise _refuse("noise", kind, "token ids are integers; use mask to drop tokens instead")
        layers.append(keras.layers.GaussianNoise(augment.noise, name="augment_noise"))
    if augment.mask:
        if is_image:
            raise _refuse("mask", kind, "masking is for sequences and tabular rows")
        layers.append(RandomMasking(augment.mask, name="augment_mask"))
    return layers


@keras.saving.register_keras_serializable(package="kproto")
class Augmentation(keras.layers.Layer):
    """All of `data.augment` as one layer that is random only when called with training=True.

    Keras's own random image layers default to training=True when a model is called directly (as exports do);
    this wrapper makes the identity the default, so model(x), predict and every export see the plain input.
    Its config is the plain option values, so saved models reload in safe mode.
    """

    def __init__(
        self, options: dict[str, Any], kind: str, input_shape: list[int] | tuple[int, ...], **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.options = dict(options)
        self.kind = kind
        self.data_shape = list(input_shape)
        from types import SimpleNamespace

        spec = SimpleNamespace(**{name: self.options.get(name) for name in (*IMAGE_ONLY, "noise", "mask")})
        self.steps = augmentation_layers(spec, SimpleNamespace(kind=kind, input_shape=tuple(self.data_shape)))

    def build(self, input_shape: Any) -> None:
        for step in self.steps:
            step.build(input_shape)
        self.built = True

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        if not training:
            return inputs
        x = inputs
        for step in self.steps:
            x = step(x, training=True)
        return x

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "options": self.options, "kind": self.kind, "input_shape": self.data_shape}


def augmentation_layer(augment: Any, info: DataInfo) -> Augmentation | None:
    """One `Augmentation` layer for `data.augment` (checked against the data), or None when nothing is asked."""
    if augment is None or not augmentation_layers(augment, info):
        return None
    options = {k: v for k, v in augment.model_dump().items() if v is not None}
    return Augmentation(options, info.kind, tuple(info.input_shape), name="augmentation")


def apply_augmentation(x: Any, augment: Any, info: DataInfo) -> Any:
    """`x` through the `Augmentation` layer for `augment` (a family builder's first step after keras.Input)."""
    layer = augmentation_layer(augment, info)
    return x if layer is None else layer(x)


def with_augmentation(model: keras.Model, augment: Any, info: DataInfo) -> keras.Model:
    """`model` behind the `Augmentation` layer (a new functional model nesting it), or `model` when none is asked.

    The trainer applies this to every family's model, so builders need no augmentation code of their own.
    """
    layer = augmentation_layer(augment, info)
    if layer is None:
        return model
    if len(model.inputs) != 1:
        raise RecipeError(
            f"data.augment needs a single-input model; this {model.name} model has {len(model.inputs)}",
            field="data.augment",
        )
    inputs = keras.Input(shape=tuple(model.inputs[0].shape[1:]), dtype=model.inputs[0].dtype, name="features")
    return keras.Model(inputs, model(layer(inputs)), name=f"{model.name}_augmented")
