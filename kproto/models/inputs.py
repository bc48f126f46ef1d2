"""One model over columns of several kinds (catalog.MIXED): an encoder per named input, combined, then the head.

The named inputs (kproto.data.inputs) and their default encoders:
- `text`: the family's own network up to its head for rnn, gru, lstm and transformer (or `model.inputs.text`, a
  family section); an embedding bag (token embeddings averaged over the non-padding tokens) for feedforward and cnn;
- `image`: the cnn family's network up to its head (the model's own for cnn, or `model.inputs.image`);
- `tabular` and `categorical`: one dense tower (`model.inputs.tabular`) over the numeric and date features and one
  embedding per categorical column.
The encodings meet by `model.combine` (concat, gated or attention); a feedforward model then runs its Dense layers,
every family its task head. The Keras model takes the packed rows (`features`) and cuts them with
kproto.models.input_layers.SplitInputs into the named inputs of an inner functional model (`<family>_inputs`),
whose inputs are named `text`, `image`, `tabular` and `categorical`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from kproto.core import catalog
from kproto.core.errors import RecipeError
from kproto.models.common import activation_layer, layer_kwargs, normalization, output_head

if TYPE_CHECKING:
    import keras

    from kproto.core.fields import ModelBase
    from kproto.data.types import DataInfo

TEXT_FAMILIES = ("rnn", "gru", "lstm", "transformer")  # their own network encodes a text input
BAG_DIM = 64  # the embedding size of the default text encoder (an embedding bag)
COMBINE_DIM = 64  # the width each encoding is projected to before a gated or attention combination


def check_several(spec: ModelBase, info: DataInfo) -> None:
    """A family that takes several inputs (catalog `extra_inputs`), or a RecipeError naming data.features."""
    entry = catalog.family(spec.type)
    if entry.extra_inputs:
        return
    takers = ", ".join(name for name, other in catalog.FAMILIES.items() if other.extra_inputs)
    kinds = ", ".join(part["name"] for part in info.inputs)
    raise RecipeError(
        f"a {entry.name} model takes one kind of input; data.features gives several ({kinds})",
        field="data.features",
        hint=f"list columns of one kind in data.features, or use model.type: {takers}",
    )


def build_several(spec: ModelBase, info: DataInfo) -> keras.Model:
    """The model over the packed rows: SplitInputs → the inner model of named inputs → outputs."""
    import keras

    from kproto.models.input_layers import SplitInputs

    check_several(spec, info)
    named = {
        part["name"]: keras.Input(shape=tuple(part["shape"]), dtype=part["dtype"], name=part["name"])
        for part in info.inputs
    }
    encoded = []
    if "text" in named:
        encoded.append(_text_encoder(spec, info, _part(info, "text"))(named["text"]))
    if "image" in named:
        encoded.append(_image_encoder(spec, info, _part(info, "image"))(named["image"]))
    if "tabular" in named or "categorical" in named:
        encoded.append(_tabular_tower(spec, info, named))
    x = _combine(encoded, spec.combine)
    if spec.type == "feedforward":
        x = _dense_stack(spec, x)
    elif spec.dropout:
        x = keras.layers.Dropout(spec.dropout, name="combined_dropout")(x)
    inner = keras.Model(named, output_head(x, info, spec), name=f"{spec.type}_inputs")
    packed = keras.Input(shape=tuple(info.input_shape), name="features")
    pieces = SplitInputs(info.inputs, name="split_inputs")(packed)
    outputs = inner({part["name"]: piece for part, piece in zip(info.inputs, pieces, strict=True)})
    return keras.Model(packed, outputs, name=spec.type)


def _part(info: DataInfo, name: str) -> dict[str, Any]:
    return next(part for part in info.inputs if part["name"] == name)


def _section(spec: ModelBase, kind: str, default: str | None) -> ModelBase | None:
    """The family section encoding `kind`: model.inputs.<kind>, else the model itself when its family is `default`
    or among the families that encode it, else None (the built-in default)."""
    override = getattr(spec.inputs, kind, None) if spec.inputs is not None else None
    if override is not None:
        return catalog.family_spec(catalog.family(override["type"])).model_validate(override)
    if default is not None:
        return catalog.family_spec(catalog.family(default)).model_validate({"type": default})
    return None


def _encoder_of(family_spec: ModelBase, info: DataInfo, name: str) -> keras.Model:
    """A family's network on one input, up to (not including) its task head, as a model named `<name>_encoder`."""
    import keras

    from kproto.models import get_builder

    if info.task == catalog.MULTI_TARGET:  # the encoder stops before the heads: one head builds it as well
        info = replace(info, task=catalog.REGRESSION, targets=[])
    full = get_builder(family_spec.type)(family_spec, info)
    names = {layer.name for layer in full.layers}
    head = full.get_layer("output_raw" if "output_raw" in names else "output")
    return keras.Model(full.inputs, head.input, name=f"{name}_encoder")


def _text_encoder(spec: ModelBase, info: DataInfo, part: dict[str, Any]) -> keras.Model:
    import keras

    own = spec if spec.type in TEXT_FAMILIES else None
    section = _section(spec, "text", None) or own
    sub = replace(
        info,
        kind=catalog.TEXT,
        input_shape=tuple(part["shape"]),
        vocab_size=int(part["vocab"]),
        inputs=[],
        targets=[],
        table={},
    )
    if section is not None:
        return _encoder_of(section, sub, "text")
    tokens = keras.Input(shape=tuple(part["shape"]), dtype="int32", name="tokens")
    x = keras.layers.Embedding(int(part["vocab"]), BAG_DIM, mask_zero=True, name="bag_embedding")(tokens)
    x = keras.layers.GlobalAveragePooling1D(name="bag_mean")(x)
    return keras.Model(tokens, x, name="text_encoder")


def _image_encoder(spec: ModelBase, info: DataInfo, part: dict[str, Any]) -> keras.Model:
    section = _section(spec, "image", None if spec.type == "cnn" else "cnn") or spec
    sub = replace(info, kind=catalog.IMAGE, input_shape=tuple(part["shape"]), inputs=[], targets=[], table={})
    return _encoder_of(section, sub, "image")


def _tabular_tower(spec: ModelBase, info: DataInfo, named: dict[str, Any]) -> Any:
    """Numeric and date features beside one embedding per categorical column, through the tower's Dense layers."""
    import keras

    tower = spec.inputs.tabular if spec.inputs is not None and spec.inputs.tabular is not None else None
    units = tower.units if tower is not None else [64]
    embedding_dim = tower.embedding_dim if tower is not None else 8
    blocks = []
    if "tabular" in named:
        blocks.append(named["tabular"])
    if "categorical" in named:
        vocab = int(_part(info, "categorical")["vocab"])
        embedded = keras.layers.Embedding(vocab, embedding_dim, name="category_embedding")(named["categorical"])
        blocks.append(keras.layers.Flatten(name="category_flat")(embedded))
    x = blocks[0] if len(blocks) == 1 else keras.layers.Concatenate(name="tabular_features")(blocks)
    for i, width in enumerate(units):
        x = keras.layers.Dense(width, name=f"tabular_dense_{i}", **layer_kwargs(spec, f"tabular_dense_{i}"))(x)
        x = activation_layer("relu", layer_name=f"tabular_relu_{i}")(x)
    return x


def _combine(encoded: list[Any], how: str) -> Any:
    """concat: side by side. gated: each encoding projected to COMBINE_DIM and weighted by a sigmoid gate computed
    from all of them, then summed. attention: the projections as a short sequence through one self-attention layer,
    then averaged."""
    import keras

    if len(encoded) == 1:
        return encoded[0]
    if how == "concat":
        return keras.layers.Concatenate(name="combine")(encoded)
    projected = [keras.layers.Dense(COMBINE_DIM, name=f"combine_projection_{i}")(e) for i, e in enumerate(encoded)]
    if how == "gated":
        everything = keras.layers.Concatenate(name="combine_all")(encoded)
        gated = []
        for i, value in enumerate(projected):
            gate = keras.layers.Dense(COMBINE_DIM, activation="sigmoid", name=f"combine_gate_{i}")(everything)
            gated.append(keras.layers.Multiply(name=f"combine_gated_{i}")([gate, value]))
        return keras.layers.Add(name="combine")(gated)
    if how == "attention":
        steps = [keras.layers.Reshape((1, COMBINE_DIM), name=f"combine_step_{i}")(p) for i, p in enumerate(projected)]
        sequence = keras.layers.Concatenate(axis=1, name="combine_sequence")(steps)
        attended = keras.layers.MultiHeadAttention(num_heads=4, key_dim=COMBINE_DIM // 4, name="combine_attention")(
            sequence, sequence
        )
        mixed = keras.layers.Add(name="combine_residual")([sequence, attended])
        return keras.layers.GlobalAveragePooling1D(name="combine")(mixed)
    raise RecipeError(f"unknown model.combine {how!r}", field="model.combine", hint="concat, gated or attention")


def _dense_stack(spec: ModelBase, x: Any) -> Any:
    """A feedforward model's Dense layers (units, normalization, activation, dropout) over the combined inputs."""
    import keras

    for i, units in enumerate(spec.units):
        x = keras.layers.Dense(units, name=f"dense_{i}", **layer_kwargs(spec, f"dense_{i}"))(x)
        norm = normalization(getattr(spec, "normalization", "none"))
        if norm is not None:
            x = norm(x)
        x = activation_layer(spec.activation)(x)
        if spec.dropout:
            x = keras.layers.Dropout(spec.dropout)(x)
    return x
