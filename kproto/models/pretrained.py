"""Pretrained family: a backbone from Keras Applications, KerasHub, a .keras file or a kproto run, plus a new head.

A pretrained backbone is called with `training=False`, so its BatchNormalization layers stay in inference mode
whether or not they are trainable (the Keras transfer-learning rule); an Applications backbone with `weights: none`
has nothing pretrained and trains normally. `trainable` decides what trains in the first phase;
`fine_tune` adds a second phase that unfreezes the whole backbone at a lower learning rate.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field, model_validator

from kproto.core import catalog
from kproto.core.fields import Fraction, ModelBase, PositiveInt, Strict

if TYPE_CHECKING:
    import keras

    from kproto.data.types import DataInfo
    from kproto.recipe.schema import Recipe

BACKBONE = "backbone"  # the name of the backbone inside the built model


class FineTune(Strict):
    after_epochs: PositiveInt = Field(
        description="Epochs of the first phase; then the whole backbone is unfrozen for the rest of train.epochs."
    )
    learning_rate_factor: Annotated[float, Field(gt=0, le=1)] = Field(
        0.1, description="The second phase's learning rate as a share of the first one's."
    )


class Head(Strict):
    units: list[PositiveInt] = Field([128], description="Dense layers between the backbone and the output layer.")
    dropout: Fraction = Field(0.2, description="Dropout before each head layer and before the output.")


class Pretrained(ModelBase):
    type: Literal["pretrained"]
    source: str = Field(
        description="A Keras Applications name (mobilenet_v3_small), a KerasHub preset name or handle (kaggle://, "
        "hf://), a local KerasHub preset folder, a .keras file, or a kproto run directory (or a folder of runs: "
        "the latest completed one)."
    )
    weights: str | None = Field(
        None, description="Keras Applications only: imagenet (the default; downloaded once), a .weights.h5, or none."
    )
    trainable: bool | Annotated[int, Field(ge=1)] = Field(
        False, description="false: frozen backbone, train the head; true: train everything; N: the last N layers."
    )
    fine_tune: FineTune | None = Field(
        None, description="A second phase: {after_epochs, learning_rate_factor}: unfreeze, lower the rate."
    )
    lora_rank: PositiveInt | None = Field(None, description="LoRA adapters of this rank (KerasHub backbones).")
    head: Head = Field(default_factory=Head)
    image_size: Annotated[list[PositiveInt], Field(min_length=2, max_length=2)] | None = Field(
        None,
        description="Resize images to [height, width] for the backbone; default: the data's size, raised to the "
        "architecture's minimum (Applications).",
    )

    def path_fields(self) -> list[str]:
        """The fields that hold local paths: `source` and `weights` where they name files."""
        from kproto.models.backbones import looks_like_path

        fields = ["source"] if looks_like_path(self.source) else []
        return fields + (["weights"] if self.weights not in (None, "imagenet", "none") else [])

    @model_validator(mode="after")
    def _consistent(self) -> Pretrained:
        from kproto.models.backbones import APPLICATIONS, looks_like_path

        if self.weights is not None and self.source.lower() not in APPLICATIONS:
            kind = "a path" if looks_like_path(self.source) else "not a Keras Applications name"
            raise ValueError(
                f"weights applies to Keras Applications sources only, and source '{self.source}' is {kind}; "
                "remove weights (presets, .keras files and runs bring their own)"
            )
        if self.lora_rank is not None and self.trainable is not False:
            raise ValueError("lora_rank trains LoRA adapters on a frozen backbone: use it with trainable: false")
        if self.lora_rank is not None and self.fine_tune is not None:
            raise ValueError("lora_rank and fine_tune are alternatives: LoRA adapters, or unfreezing the backbone")
        if self.fine_tune is not None and self.trainable is True:
            raise ValueError(
                "fine_tune unfreezes the backbone after a first phase; with trainable: true it is never frozen "
                "(use trainable: false or a number of layers)"
            )
        return self


def starter(guess: Any) -> list[str]:
    """The `model:` lines `kproto new` writes for this family (after `type:`), commented."""
    if guess.text:
        source = [
            "  source: bert_tiny_en_uncased    # a KerasHub preset (downloaded once), or a local preset folder",
        ]
    elif guess.shape:
        source = [
            "  source: mobilenet_v3_small    # a Keras Applications name, a KerasHub preset, a .keras file or a run",
            "  weights: none    # imagenet (downloaded once), a local .weights.h5, or none (set data.shape too)",
        ]
    else:
        source = ["  source: ../runs/NAME    # a kproto run trained on similar data (its latest completed run)"]
    return [
        *source,
        "  trainable: false    # false: train the head only; true: everything; N: the last N layers",
        "  # fine_tune: {after_epochs: 5, learning_rate_factor: 0.1}    # then unfreeze the backbone at a lower rate",
        "  head: {units: [128], dropout: 0.2}",
    ]


def build(spec: Pretrained, info: DataInfo) -> Any:
    """Inputs → (resize, scale, grey→RGB) → backbone(training=False) → pooled features → head → output."""
    import keras

    from kproto.models.backbone_loader import load_backbone
    from kproto.models.common import activation, layer_kwargs, output_head

    backbone = load_backbone(spec, info)
    backbone.model.name = BACKBONE
    inputs, features = _connect(backbone, info)
    x = features
    act = activation(spec.activation)
    for i, units in enumerate(spec.head.units):
        if spec.head.dropout:
            x = keras.layers.Dropout(spec.head.dropout, name=f"head_dropout_{i}")(x)
        x = keras.layers.Dense(units, activation=act, name=f"head_{i}", **layer_kwargs(spec, f"head_{i}"))(x)
    if spec.head.dropout:
        x = keras.layers.Dropout(spec.head.dropout, name="head_dropout")(x)
    model = keras.Model(inputs, output_head(x, info, spec), name="pretrained")
    if spec.lora_rank is not None:
        if not backbone.supports_lora:
            from kproto.core.errors import RecipeError

            raise RecipeError(
                f"model.source '{spec.source}' ({backbone.kind}) does not support LoRA",
                field="model.lora_rank",
                hint="LoRA needs a KerasHub backbone; use trainable: N or fine_tune instead",
            )
        backbone.model.enable_lora(spec.lora_rank)
    else:
        set_phase(model, spec, 1)
    return model


def _connect(backbone: Any, info: DataInfo) -> tuple[Any, Any]:
    """The model input for kproto's data and the backbone's pooled features on it."""
    import keras

    from kproto.core.errors import RecipeError
    from kproto.models.transfer_layers import FirstToken, TextBackboneInputs

    net = backbone.model
    if backbone.modality == catalog.TEXT:
        if info.kind != catalog.TEXT:
            raise RecipeError(
                f"model.source '{backbone.record.get('source')}' is a text backbone; this data gives {info.kind} input",
                field="data.text",
                hint="set data.text to the column of raw text",
            )
        longest = getattr(net, "max_sequence_length", None)
        if longest is not None and int(info.input_shape[0]) > int(longest):
            raise RecipeError(
                f"data.sequence_length is {info.input_shape[0]}, longer than the backbone's {longest} positions",
                field="data.sequence_length",
                hint=f"set data.sequence_length to at most {longest}",
            )
        inputs = keras.Input(shape=tuple(info.input_shape), dtype="int32", name="token_ids")
        packed = TextBackboneInputs(sorted(net.input), backbone.pad_token_id, name="backbone_inputs")(inputs)
        out = net(packed, training=False)
        if isinstance(out, dict):
            out = (
                out["pooled_output"]
                if "pooled_output" in out
                else FirstToken(name="first_token")(out["sequence_output"])
            )
        elif len(out.shape) == 3:
            out = FirstToken(name="first_token")(out)
        return inputs, out
    expected = tuple(net.inputs[0].shape[1:])
    shape = tuple(info.input_shape)
    if backbone.modality == catalog.IMAGE and len(shape) in (2, 3) and info.kind != catalog.TEXT:
        inputs = keras.Input(shape=shape, name="image")
        x = keras.layers.Reshape((*shape, 1), name="add_channel")(inputs) if len(shape) == 2 else inputs
        if backbone.image_size and tuple(x.shape[1:3]) != tuple(backbone.image_size):
            x = keras.layers.Resizing(*backbone.image_size, name="resize")(x)
        if backbone.image_preprocess is not None:
            x = backbone.image_preprocess(x)
        _check_shape(tuple(x.shape[1:]), expected, backbone)
    else:
        inputs = keras.Input(shape=shape, name="features")
        x = inputs
        _check_shape(shape, expected, backbone)
    # Pretrained weights: BatchNormalization in inference mode. Random weights (weights: none) train it normally.
    out = net(x, training=None if random_weights(backbone.spec) else False)
    if len(out.shape) == 4:
        out = keras.layers.GlobalAveragePooling2D(name="backbone_pool")(out)
    elif len(out.shape) == 3:
        out = keras.layers.GlobalAveragePooling1D(name="backbone_pool")(out)
    return inputs, out


def _check_shape(given: tuple[Any, ...], expected: tuple[Any, ...], backbone: Any) -> None:
    fits = len(given) == len(expected) and all(e is None or int(e) == int(g) for g, e in zip(given, expected))
    if not fits:
        from kproto.core.errors import RecipeError

        raise RecipeError(
            f"the backbone from '{backbone.record.get('source')}' takes inputs of shape {list(expected)}; "
            f"this data gives {list(given)}",
            field="model.source",
            hint="use data with the columns and data.shape the backbone was trained on",
        )


def data_preprocessing(recipe: Recipe) -> Any:
    """What `load_dataset(adopt=...)` calls with the data kind: the backbone's own feature preprocessing."""
    from kproto.models.backbone_loader import adopted_preprocessing

    return lambda kind: adopted_preprocessing(recipe.model, recipe.data, kind)


# ----------------------------------------------------------------------------- phases
def backbone_of(model: keras.Model) -> Any:
    """The backbone inside a built (or augmented) pretrained model."""
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if layer.name == BACKBONE:
            return layer
    raise KeyError(BACKBONE)


def _weighted(layers: list[Any]) -> list[Any]:
    return [layer for layer in layers if layer.weights]


def set_phase(model: keras.Model, spec: Pretrained, phase: int) -> None:
    """Make the backbone trainable as phase 1 (`spec.trainable`) or phase 2 (everything) asks.

    BatchNormalization layers of pretrained weights stay frozen in every phase (and, called with training=False,
    in inference mode).
    """
    import keras

    backbone = backbone_of(model)
    if spec.lora_rank is not None:
        return  # enable_lora chose the trainable weights
    backbone.trainable = False  # first off, then on: switching on alone leaves frozen sublayers frozen
    if phase == 2 or spec.trainable is True:
        backbone.trainable = True
    elif spec.trainable is not False:
        backbone.trainable = True
        layers = _weighted(backbone.layers)
        for layer in layers[: max(len(layers) - int(spec.trainable), 0)]:
            layer.trainable = False
    if backbone.trainable and not random_weights(spec):
        for layer in backbone._flatten_layers(include_self=False, recursive=True):
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.trainable = False


def random_weights(spec: Pretrained) -> bool:
    """An Applications backbone built with `weights: none`: nothing pretrained, so BatchNormalization trains."""
    return spec.weights == "none"


def phase_of(spec: Pretrained, epoch: int) -> int:
    """The phase epoch `epoch` (0-based) belongs to."""
    fine_tune = spec.fine_tune
    return 2 if fine_tune is not None and epoch >= fine_tune.after_epochs else 1


def trainable_facts(model: keras.Model) -> dict[str, Any]:
    """Trainable and frozen parameter counts and the backbone layers that train."""
    import numpy as np

    def count(weights: list[Any]) -> int:
        return int(sum(int(np.prod(w.shape)) for w in weights))

    facts: dict[str, Any] = {
        "trainable_parameters": count(model.trainable_weights),
        "frozen_parameters": count(model.non_trainable_weights),
    }
    try:
        backbone = backbone_of(model)
    except KeyError:
        return facts
    layers = _weighted(backbone.layers)
    training = [layer.name for layer in layers if layer.trainable_weights]
    facts["backbone_trainable_layers"] = "all" if len(training) == len(layers) else "none" if not training else training
    facts["backbone_layers"] = len(layers)
    return facts
