"""Loading a pretrained backbone for the pretrained family: the Keras model behind `model.source`, what it takes
(images, text or features) and how kproto's inputs are prepared for it. Where sources come from, how they are
recognised and recorded, and the offline rules live in kproto.models.backbones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kproto.core import catalog
from kproto.core.errors import ModelFileError, RecipeError
from kproto.models.backbones import (
    APPLICATION,
    APPLICATIONS,
    HUB_PRESET,
    KERAS_FILE,
    PRESET_FOLDER,
    RUN,
    affine_of,
    classify_source,
    describe_source,
    download_guard,
    preset_sequence_limit,
    resolve_run,
    text_preprocessor,
)

if TYPE_CHECKING:
    from kproto.data.types import DataInfo


@dataclass
class Backbone:
    """A loaded backbone: the Keras model, what it takes (image, text or features) and its provenance."""

    model: Any
    kind: str
    modality: str  # image, text or features
    record: dict[str, Any] = field(default_factory=dict)
    image_preprocess: Any = None  # a layer that maps [0, 1] pixels to the backbone's input scale, or None
    image_size: tuple[int, int] | None = None  # resize images to this before the backbone
    pad_token_id: int = 0
    supports_lora: bool = False
    spec: Any = None  # the recipe's model section


def load_backbone(spec: Any, info: DataInfo) -> Backbone:
    """The backbone of a `model: {type: pretrained}` section, for data described by `info` (a DataInfo)."""
    backbone = _load(spec, info)
    backbone.spec = spec
    return backbone


def _load(spec: Any, info: DataInfo) -> Backbone:
    kind = classify_source(spec.source)
    if spec.weights is not None and kind != APPLICATION:
        raise RecipeError(
            f"model.weights applies to Keras Applications sources only; model.source '{spec.source}' is a {kind}",
            field="model.weights",
            hint="remove model.weights (a preset, .keras file or run brings its own weights)",
        )
    if kind == APPLICATION:
        return _application(spec, info)
    if kind in (HUB_PRESET, PRESET_FOLDER):
        return _hub_backbone(spec, kind)
    record = describe_source(spec)
    if kind == KERAS_FILE:
        model = load_model_file(Path(record["source"]))
        return _wrap(without_output(model) if _is_kproto_model(model) else model, KERAS_FILE, record)
    from kproto.runs.layout import MODEL

    model = load_model_file(resolve_run(spec.source) / MODEL)
    return _wrap(without_output(model), RUN, record)


def load_model_file(path: Path) -> Any:
    """A .keras model through kproto's safe loader (safe_mode=True), uncompiled."""
    from kproto.runs.load import load_keras_model

    return load_keras_model(path, compile=False)


def _is_kproto_model(model: Any) -> bool:
    names = {layer.name for layer in model.layers}
    return "output" in names


def without_output(model: Any) -> Any:
    """The model minus its output layer (and the regression rescaling), as a feature extractor."""
    import keras

    names = {layer.name for layer in model.layers}
    last = "output_raw" if "output_raw" in names else "output"
    if last not in names:
        raise ModelFileError(
            f"the model '{model.name}' has no layer named 'output' to remove",
            field="model.source",
            hint="a kproto run's model ends in a layer named 'output'; a plain .keras backbone is used whole",
        )
    features = model.get_layer(last).input
    return keras.Model(model.inputs, features, name="backbone")


def _wrap(model: Any, kind: str, record: dict[str, Any]) -> Backbone:
    inputs = model.inputs
    if isinstance(model.input, dict) and "token_ids" in model.input:
        return Backbone(model, kind, "text", record)
    shape = tuple(inputs[0].shape[1:]) if len(inputs) == 1 else ()
    modality = "image" if len(shape) == 3 else "features"
    if len(inputs) != 1:
        raise ModelFileError(
            f"the backbone '{model.name}' has {len(inputs)} inputs; kproto feeds one input (or KerasHub text inputs)",
            field="model.source",
        )
    return Backbone(model, kind, modality, record)


def _application(spec: Any, info: DataInfo) -> Backbone:
    import importlib

    import keras

    class_name, module_name, smallest = APPLICATIONS[spec.source.lower()]
    if len(info.input_shape) not in (2, 3) or info.kind == catalog.TEXT:
        raise RecipeError(
            f"Keras Applications backbones take images; this data gives {info.kind} input {list(info.input_shape)}",
            field="model.source",
            hint="set data.shape (e.g. [8, 8, 1]) or use a folder of images",
        )
    size = tuple(spec.image_size) if spec.image_size else tuple(max(int(d), smallest) for d in info.input_shape[:2])
    if min(size) < smallest:
        raise RecipeError(
            f"{spec.source} needs images of at least {smallest}×{smallest}; model.image_size is {list(size)}",
            field="model.image_size",
        )
    weights = spec.weights or "imagenet"
    if weights not in ("imagenet", "none"):
        path = Path(weights).expanduser()
        if not path.is_file() or not path.name.endswith(".weights.h5"):
            raise ModelFileError(
                f"model.weights '{weights}' is not an existing .weights.h5 file",
                field="model.weights",
                hint="use imagenet, none, or a file written by `kproto fetch NAME --out DIR`",
            )
        weights = str(path)
    record = describe_source(spec)
    constructor = getattr(keras.applications, class_name)

    def build() -> Any:
        return constructor(
            include_top=False,
            weights=None if weights == "none" else weights,
            input_shape=(*size, 3),
            pooling="avg",
        )

    model = download_guard(spec.source, APPLICATION, build) if weights == "imagenet" else build()
    model.name = "backbone"
    module = importlib.import_module(f"keras.applications.{module_name}")
    from kproto.models.transfer_layers import ChannelAffine

    matrix, bias = affine_of(module.preprocess_input)
    channels = int(info.input_shape[2]) if len(info.input_shape) == 3 else 1
    preprocess = ChannelAffine.for_channels(matrix, bias, channels, name="backbone_preprocess")
    return Backbone(model, APPLICATION, "image", record, image_preprocess=preprocess, image_size=size)


def _hub_backbone(spec: Any, kind: str) -> Backbone:
    import keras_hub

    source = str(Path(spec.source).expanduser()) if kind == PRESET_FOLDER else spec.source

    def load() -> Any:
        return keras_hub.models.Backbone.from_preset(source)

    model = load() if kind == PRESET_FOLDER else download_guard(source, kind, load)
    backbone = _wrap(model, kind, describe_source(spec))
    backbone.supports_lora = hasattr(model, "enable_lora")
    if backbone.modality == catalog.TEXT:
        tokenizer = text_preprocessor(source, kind, 8).tokenizer
        backbone.pad_token_id = int(getattr(tokenizer, "pad_token_id", 0) or 0)
    return backbone


# ----------------------------------------------------------------------------- preprocessing a backbone brings
def text_state(spec: Any, column: str, sequence_length: int | None) -> dict[str, Any]:
    """The preprocessing state for `model.source`, a KerasHub text backbone: its preset's preprocessor, packing
    `sequence_length` tokens (unset: the preset's own limit)."""
    from kproto.data.hub_text import preprocessor_state
    from kproto.data.text_length import UNSET

    kind = classify_source(spec.source)
    source = str(Path(spec.source).expanduser()) if kind == PRESET_FOLDER else spec.source
    if sequence_length is not None:
        length, why = sequence_length, "set by data.sequence_length"
    else:
        limit = preset_sequence_limit(source, kind)
        length = limit or UNSET
        why = (
            f"the preset's own limit (its backbone's max_sequence_length, {limit})"
            if limit
            else f"the preset states no limit: the default {UNSET}"
        )
    state = preprocessor_state(text_preprocessor(source, kind, length), column, length)
    state["sequence_length_source"] = why
    return state


def adopted_preprocessing(spec: Any, data: Any, kind: str) -> dict[str, Any] | None:
    """The feature preprocessing a backbone brings, taken as it is instead of fitted: a source run's own (its
    preprocess.json state) or a KerasHub text preset's tokenizer. None: kproto fits its own."""
    from kproto.core.errors import DataError
    from kproto.models.backbones import is_text_source, source_preprocessing

    state = source_preprocessing(spec)
    if state is not None:
        if state.get("kind") != kind:
            raise DataError(
                f"the source run was trained on {state.get('kind')} input; this data gives {kind} input",
                field="model.source",
                hint="use data shaped like the source run's (the same columns, data.shape or data.text)",
            )
        return state
    if kind == catalog.TEXT and is_text_source(spec):
        return {"text": text_state(spec, data.text, data.sequence_length)}
    return None
