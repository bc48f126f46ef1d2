"""Serializable layers of the seq2seq family (registered under "kproto", so saved models load in safe mode)."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from kproto.models.layers import PreNormBlock

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


@register
class TransformerEncoderBlock(PreNormBlock):
    """Pre-norm self-attention + feed-forward over the source; padded positions are not attended to."""

    def build(self, input_shape: Any) -> None:
        self.build_block(tuple(input_shape[0]))

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        x, keep = inputs
        keep = ops.cast(keep, "bool")
        attention_mask = ops.logical_and(keep[:, :, None], keep[:, None, :])
        h = self.norm1(x)
        h = self.attention(h, h, attention_mask=attention_mask, training=training)
        return self.feed_forward(x + self.drop(h, training=training), training)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return tuple(input_shape[0])


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
        return self.feed_forward(x + self.drop(h, training=training), training)


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
