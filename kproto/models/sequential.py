"""Sequential family: an explicit list of Keras layers by class name, e.g. `[{Conv1D: {filters: 32, kernel_size: 3}}]`.

Only classes from `keras.layers` that are Layer subclasses may be named; Lambda (arbitrary code) and wrappers of
foreign modules are refused, so a recipe never runs code and the saved model loads in safe mode.
`model.activation` is the default for layers whose Keras default is no activation (Dense, Conv1D/2D/3D …);
give `activation: linear` on a layer to keep it linear.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator

from kproto.core.fields import ModelBase

if TYPE_CHECKING:
    import keras

from kproto.core import catalog
from kproto.core.errors import RecipeError, suggest
from kproto.models.common import activation, output_head

REFUSED = {
    "Lambda": "it runs arbitrary Python code",
    "TorchModuleWrapper": "it wraps arbitrary PyTorch code",
    "JaxLayer": "it wraps arbitrary JAX code",
    "FlaxLayer": "it wraps arbitrary Flax code",
    "InputLayer": "the input is added from the data",
    "Layer": "it is the abstract base class",
    "Wrapper": "it is an abstract base class",
}
NESTED = ("layer", "backward_layer")  # wrapper arguments that are themselves layers (Bidirectional, TimeDistributed)


# ----------------------------------------------------------------------------- recipe section
class Sequential(ModelBase):
    type: Literal["sequential"]
    layers: list[dict[str, dict[str, Any] | None]] = Field(
        description="Keras layers in order, e.g. [{Dense: {units: 64}}, {Dropout: {rate: 0.2}}]."
    )

    @field_validator("layers")
    @classmethod
    def _one_class_per_item(cls, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for i, item in enumerate(value):
            if len(item) != 1:
                raise ValueError(f"item {i} must have exactly one key (the layer class), got {sorted(item)}")
        if not value:
            raise ValueError("the layer list is empty; add at least one layer")
        return value


# ----------------------------------------------------------------------------- model
def starter(guess: Any) -> list[str]:
    """The `model:` lines `kproto new` writes for this family (after `type:`), commented."""
    return [
        "  layers:    # Keras layers by class name, in order; the output layer comes from the task",
        "    - Dense: {units: 64, activation: relu}",
        "    - Dropout: {rate: 0.1}",
        "    - Dense: {units: 32, activation: relu}",
    ]


def layer_classes() -> dict[str, type]:
    """Every usable class in keras.layers, by name."""
    import keras

    return {
        name: obj
        for name, obj in vars(keras.layers).items()
        if inspect.isclass(obj) and issubclass(obj, keras.layers.Layer) and name not in REFUSED
    }


def _default_activation(cls: type, kwargs: dict[str, Any], act: str | None) -> None:
    """Fill in `act` for a layer whose constructor takes `activation=None` and was not given one."""
    if act is None or "activation" in kwargs:
        return
    parameter = inspect.signature(cls.__init__).parameters.get("activation")
    if parameter is not None and parameter.default is None:
        kwargs["activation"] = act


def make_layer(
    item: dict[str, Any], field: str, classes: dict[str, type], act: str | None = None
) -> keras.layers.Layer:
    """`{ClassName: {kwargs}}` → a layer instance, or a RecipeError that names `field`."""
    ((name, kwargs),) = item.items()
    if name in REFUSED:
        raise RecipeError(
            f"the layer '{name}' is not allowed: {REFUSED[name]}",
            field=field,
            hint="use the built-in Keras layers; recipes never run code",
        )
    if name not in classes:  # the full list has ~150 names: name the closest one instead
        guess = suggest(name, sorted(classes))
        raise RecipeError(
            f"unknown layer '{name}': it is not a layer class of keras.layers."
            + (f" Did you mean '{guess}'?" if guess else ""),
            field=field,
            hint="layer names are Keras class names, e.g. Dense, Conv1D, LSTM, Dropout, Flatten",
        )
    kwargs = dict(kwargs or {})
    for key in NESTED:
        if isinstance(kwargs.get(key), dict) and len(kwargs[key]) == 1:
            kwargs[key] = make_layer(kwargs[key], f"{field}.{name}.{key}", classes, act)
    _default_activation(classes[name], kwargs, act)
    try:
        return classes[name](**kwargs)
    except (TypeError, ValueError) as exc:
        raise RecipeError(
            f"bad options for {name}: {exc}", field=field, hint=f"see the arguments of keras.layers.{name}"
        ) from None


def _ends_with_output(layers: list[keras.layers.Layer], info) -> bool:
    import keras

    last = layers[-1]
    if not isinstance(last, keras.layers.Dense):
        return False
    wanted = info.num_classes if info.task == catalog.CLASSIFICATION else 1
    return info.task in catalog.SUPERVISED_TASKS and last.units == wanted


def build(spec, info) -> keras.Model:
    """The listed layers in order; the task's output layer is added unless the list already ends with it."""
    import keras

    classes = layer_classes()
    items = list(spec.layers)
    act = activation(spec.activation)
    layers = [make_layer(item, f"model.layers[{i}]", classes, act) for i, item in enumerate(items)]
    text = info.kind == catalog.TEXT
    if text and not isinstance(layers[0], keras.layers.Embedding):  # token ids need an embedding first
        mask = bool(getattr(layers[0], "supports_masking", False))  # padding id 0 is masked where the next layer can
        layers.insert(0, keras.layers.Embedding(info.vocab_size, 64, mask_zero=mask, name="embedding"))
        items.insert(0, {"Embedding": {}})
    elif text and "input_dim" not in (items[0]["Embedding"] or {}):  # the vocabulary size comes from the data
        mask = len(layers) > 1 and bool(getattr(layers[1], "supports_masking", False))
        options = {"input_dim": info.vocab_size, "mask_zero": mask, **(items[0]["Embedding"] or {})}
        layers[0] = make_layer({"Embedding": options}, "model.layers[0]", classes)
    offset = len(items) - len(spec.layers)
    own_output = _ends_with_output(layers, info)
    if own_output:  # the user's last Dense is the output layer: rebuild it with the task's activation
        last = dict(items[-1]["Dense"] or {})
        if "activation" not in last:
            last["activation"] = spec.output_activation or ("softmax" if info.task == catalog.CLASSIFICATION else None)
        layers[-1] = make_layer({"Dense": last}, f"model.layers[{len(spec.layers) - 1}]", classes)
    inputs = keras.Input(shape=tuple(info.input_shape), dtype="int32" if text else None, name="inputs")
    x = inputs
    for i, layer in enumerate(layers):
        try:
            x = layer(x)
        except (ValueError, TypeError) as exc:
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise RecipeError(
                f"{type(layer).__name__} cannot take the input of shape {tuple(x.shape)}: {first_line}",
                field=f"model.layers[{max(i - offset, 0)}]",
                hint="check this layer's options and the layers before it",
            ) from None
    if len(x.shape) != 2:
        raise RecipeError(
            f"the last layer outputs shape {tuple(x.shape)}; the output needs one vector per example",
            field=f"model.layers[{len(spec.layers) - 1}]",
            hint="end with Flatten, GlobalAveragePooling1D/2D or a recurrent layer before the output",
        )
    if own_output:  # float32 output under mixed precision; regression learns the standardized target
        if info.task == catalog.REGRESSION:
            x = keras.layers.Rescaling(scale=info.target_std, offset=info.target_mean, dtype="float32", name="output")(
                x
            )
        else:
            x = keras.layers.Activation("linear", dtype="float32", name="output")(x)
        return keras.Model(inputs, x, name="sequential")
    return keras.Model(inputs, output_head(x, info, spec), name="sequential")
