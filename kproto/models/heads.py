"""One output head per target on a family's shared body (`data.target: [a, b]`).

The model's outputs are a dict keyed by target name, so Keras names each target's loss and metrics after it
(`default_loss`, `val_student_accuracy`) and `model.predict` answers {target: array}.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from kproto.core import catalog
from kproto.core.errors import RecipeError

if TYPE_CHECKING:
    from kproto.core.fields import ModelBase
    from kproto.data.types import DataInfo


def head_name(target: str) -> str:
    """The layer name of a target's head (letters, digits and '_' only)."""
    return "output_" + re.sub(r"\W", "_", target)


def named_heads(x: Any, info: DataInfo, spec: ModelBase) -> dict[str, Any]:
    """{target: its output}: softmax over its classes, or a linear unit rescaled to its mean and spread."""
    import keras

    outputs = {}
    for entry in info.targets:
        name, layer = entry["name"], head_name(entry["name"])
        if entry["task"] == catalog.CLASSIFICATION:
            act = spec.output_activation or "softmax"
            outputs[name] = keras.layers.Dense(entry["num_classes"], activation=act, dtype="float32", name=layer)(x)
        elif entry["task"] == catalog.REGRESSION:
            raw = keras.layers.Dense(1, activation=spec.output_activation, dtype="float32", name=f"{layer}_raw")(x)
            rescale = keras.layers.Rescaling(
                scale=entry["target_std"], offset=entry["target_mean"], dtype="float32", name=layer
            )
            outputs[name] = rescale(raw)
        else:
            raise RecipeError(f"the target '{name}' has the task {entry['task']}", field="data.target")
    return outputs
