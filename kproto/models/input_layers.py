"""The layer that cuts one packed array of rows into a model's named inputs (kproto.data.inputs packs them).

Registered under the package name "kproto", so `.keras` files that use it load in safe mode once this module is
imported (listed in kproto.core.catalog.CUSTOM_OBJECT_MODULES).
"""

from __future__ import annotations

import math
from typing import Any

import keras
from keras import ops

register = keras.saving.register_keras_serializable(package="kproto")


@register
class SplitInputs(keras.layers.Layer):
    """[batch, total width] → one tensor per part ({name, shape, dtype}), in the order of `parts`: the columns
    [start, start + prod(shape)) reshaped to the part's shape and cast to its dtype (token ids and category codes
    travel as float32 and come out as int32)."""

    def __init__(self, parts: list[dict[str, Any]], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.parts = [
            {"name": str(p["name"]), "shape": [int(d) for d in p["shape"]], "dtype": str(p["dtype"])} for p in parts
        ]

    def call(self, inputs: Any) -> list[Any]:
        outputs, start = [], 0
        for part in self.parts:
            width = math.prod(part["shape"])
            block = inputs[:, start : start + width]
            if part["dtype"].startswith("int"):
                block = ops.cast(ops.round(block), part["dtype"])
            outputs.append(ops.reshape(block, (-1, *part["shape"])))
            start += width
        return outputs

    def compute_output_spec(self, inputs: Any) -> list[Any]:
        return [
            keras.KerasTensor(
                (inputs.shape[0], *part["shape"]),
                dtype=part["dtype"] if part["dtype"].startswith("int") else inputs.dtype,
            )
            for part in self.parts
        ]

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "parts": self.parts}
