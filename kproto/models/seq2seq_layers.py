"""Serializable layers of the seq2seq family (registered under "kproto", so saved models load in safe mode)."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

register = keras.saving.register_keras_serializable(package="kproto")


@register
class ColumnSlice(keras.layers.Layer):
    """Columns [start, stop) of a [batch, columns] input: unpacks the one-array model input."""

    def __init__(self, start: int, stop: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.start, self.stop = int(start), int(stop)

    def call(self, inputs: Any) -> Any:
        return inputs[:, self.start : self.stop]

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return (input_shape[0], self.stop - self.start)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "start": self.start, "stop": self.stop}


@register
class NonPadding(keras.layers.Layer):
    """True where a token id is not padding (0)."""

    def call(self, inputs: Any) -> Any:
        return ops.not_equal(inputs, 0)


def _activate(name: str, x: Any) -> Any:
    if name == "gelu":  # the tanh form exports to ONNX and TFLite everywhere
        return keras.activations.gelu(x, approximate=True)
    return keras.activations.get(name)(x)


@register
class TransformerEncoderBlock(keras.layers.Layer):
    """Pre-norm self-attention + feed-forward over the source; padded positions are not attended to."""

    def __init__(
        self, heads: int, key_dim: int, ff_units: int, dropout: float = 0.0, activation: str = "gelu", **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.heads, self.key_dim, self.ff_units = int(heads), int(key_dim), int(ff_units)
        self.dropout, self.activation = float(dropout), activation

    def build(self, input_shape: Any) -> None:
        shape = tuple(input_shape[0])
        dim = int(shape[-1])
        self.norm1 = keras.layers.LayerNormalization(epsilon=1e-6, name="norm1")
        self.attention = keras.layers.MultiHeadAttention(
            self.heads, self.key_dim, dropout=self.dropout, name="attention"
        )
        self.norm2 = keras.layers.LayerNormalization(epsilon=1e-6, name="norm2")
        self.ff_in = keras.layers.Dense(self.ff_units, name="ff_in")
        self.ff_out = keras.layers.Dense(dim, name="ff_out")
        self.drop = keras.layers.Dropout(self.dropout)
        self.norm1.build(shape)
        self.attention.build(shape, shape)
        self.norm2.build(shape)
        self.ff_in.build(shape)
        self.ff_out.build((*shape[:-1], self.ff_units))

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        x, keep = inputs
        keep = ops.cast(keep, "bool")
        attention_mask = ops.logical_and(keep[:, :, None], keep[:, None, :])
        h = self.norm1(x)
        h = self.attention(h, h, attention_mask=attention_mask, training=training)
        x = x + self.drop(h, training=training)
        h = self.ff_out(self.drop(_activate(self.activation, self.ff_in(self.norm2(x))), training=training))
        return x + self.drop(h, training=training)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return tuple(input_shape[0])

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "heads": self.heads,
            "key_dim": self.key_dim,
            "ff_units": self.ff_units,
            "dropout": self.dropout,
            "activation": self.activation,
        }


@register
class TransformerDecoderBlock(TransformerEncoderBlock):
    """Pre-norm causal self-attention, cross-attention to the encoded source, then feed-forward."""

    def build(self, input_shape: Any) -> None:
        super().build(input_shape[:1] + input_shape[2:3])
        shape, context = tuple(input_shape[0]), tuple(input_shape[2])
        self.norm_cross = keras.layers.LayerNormalization(epsilon=1e-6, name="norm_cross")
        self.cross = keras.layers.MultiHeadAttention(self.heads, self.key_dim, dropout=self.dropout, name="cross")
        self.norm_cross.build(shape)
        self.cross.build(shape, context)

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        x, target_keep, context, source_keep = inputs
        h = self.norm1(x)
        h = self.attention(h, h, use_causal_mask=True, training=training)
        x = x + self.drop(h, training=training)
        cross_mask = ops.broadcast_to(
            ops.cast(source_keep, "bool")[:, None, :], (ops.shape(x)[0], ops.shape(x)[1], ops.shape(context)[1])
        )
        h = self.norm_cross(x)
        h = self.cross(h, context, attention_mask=cross_mask, training=training)
        x = x + self.drop(h, training=training)
        h = self.ff_out(self.drop(_activate(self.activation, self.ff_in(self.norm2(x))), training=training))
        return x + self.drop(h, training=training)


@register
class TokenAccuracy(keras.metrics.Mean):
    """Share of non-padding target tokens predicted correctly under teacher forcing."""

    def __init__(self, name: str = "token_accuracy", **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> Any:
        y_true = ops.cast(y_true, "int32")
        keep = ops.cast(ops.not_equal(y_true, 0), "float32")
        correct = ops.cast(ops.equal(ops.cast(ops.argmax(y_pred, axis=-1), "int32"), y_true), "float32") * keep
        if sample_weight is not None:
            keep = keep * ops.cast(ops.reshape(sample_weight, (-1, 1)), "float32")
            correct = correct * ops.cast(ops.reshape(sample_weight, (-1, 1)), "float32")
        return super().update_state(ops.sum(correct) / ops.maximum(ops.sum(keep), 1.0), sample_weight=ops.sum(keep))

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype}


def masked_loss() -> keras.losses.Loss:
    """Sparse categorical cross-entropy that ignores padding targets (id 0)."""
    return keras.losses.SparseCategoricalCrossentropy(ignore_class=0, name="masked_crossentropy")
