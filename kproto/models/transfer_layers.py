"""Serializable layers that connect a pretrained backbone to kproto's inputs (registered for the safe loader)."""

from __future__ import annotations

from typing import Any

import keras


@keras.saving.register_keras_serializable(package="kproto")
class ChannelAffine(keras.layers.Layer):
    """`pixels @ matrix + bias` per pixel: an Applications `preprocess_input` for pixels in [0, 1]; with a one-row
    matrix it also turns a grey image into three channels."""

    def __init__(self, matrix: list[list[float]], bias: list[float], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.matrix = [[float(v) for v in row] for row in matrix]
        self.bias = [float(v) for v in bias]

    @classmethod
    def for_channels(
        cls, matrix: list[list[float]], bias: list[float], channels: int, name: str | None = None
    ) -> ChannelAffine:
        """The layer for images with `channels` channels (1: grey, repeated to the three the backbone expects)."""
        if channels == 1:
            matrix = [[sum(row[k] for row in matrix) for k in range(len(matrix[0]))]]
        elif channels != len(matrix):
            from kproto.core.errors import RecipeError

            raise RecipeError(
                f"the backbone takes {len(matrix)}-channel images; this data has {channels} channels",
                field="data.shape",
                hint="use grey (1 channel) or RGB (3 channel) images",
            )
        return cls(matrix, bias, name=name)

    def call(self, inputs: Any) -> Any:
        matrix = keras.ops.convert_to_tensor(self.matrix, dtype=self.compute_dtype)
        bias = keras.ops.convert_to_tensor(self.bias, dtype=self.compute_dtype)
        return keras.ops.matmul(keras.ops.cast(inputs, self.compute_dtype), matrix) + bias

    def compute_output_shape(self, input_shape: Any) -> Any:
        return (*input_shape[:-1], len(self.bias))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "matrix": self.matrix, "bias": self.bias}


@keras.saving.register_keras_serializable(package="kproto")
class TextBackboneInputs(keras.layers.Layer):
    """Token ids → the dict a KerasHub text backbone takes: the ids, a padding mask (ids ≠ pad id), zero segments."""

    def __init__(self, keys: list[str], pad_token_id: int = 0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.keys = list(keys)
        self.pad_token_id = int(pad_token_id)

    def call(self, token_ids: Any) -> dict[str, Any]:
        token_ids = keras.ops.cast(token_ids, "int32")
        parts = {"token_ids": token_ids}
        if "padding_mask" in self.keys:
            parts["padding_mask"] = keras.ops.not_equal(token_ids, self.pad_token_id)
        if "segment_ids" in self.keys:
            parts["segment_ids"] = keras.ops.zeros_like(token_ids)
        return parts

    def compute_output_spec(self, token_ids: Any) -> dict[str, Any]:
        spec = {"token_ids": keras.KerasTensor(token_ids.shape, dtype="int32")}
        if "padding_mask" in self.keys:
            spec["padding_mask"] = keras.KerasTensor(token_ids.shape, dtype="bool")
        if "segment_ids" in self.keys:
            spec["segment_ids"] = keras.KerasTensor(token_ids.shape, dtype="int32")
        return spec

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "keys": self.keys, "pad_token_id": self.pad_token_id}


@keras.saving.register_keras_serializable(package="kproto")
class FirstToken(keras.layers.Layer):
    """The first time step of a sequence (the [CLS] token of a text backbone's sequence output)."""

    def call(self, sequence: Any) -> Any:
        return sequence[:, 0, :]

    def compute_output_shape(self, input_shape: Any) -> Any:
        return (input_shape[0], input_shape[-1])
