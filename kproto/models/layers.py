"""kproto's own serializable Keras layers (the transformer family's, and the Transformer block every family shares).

Registered under the package name "kproto", so `.keras` files that use them load in safe mode once this
module is imported (kproto.runs.load_keras_model does that).
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

register = keras.saving.register_keras_serializable(package="kproto")
PAIR_PRIME = 116049371  # WordPresence's hash of a pair of token ids: (first · PAIR_PRIME + second) mod buckets


@register
class PositionEmbedding(keras.layers.Layer):
    """Adds a learned embedding of each position to a [batch, length, dim] sequence; keeps the input's mask."""

    def __init__(self, max_length: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_length = int(max_length)
        self.supports_masking = True

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        self.positions = self.add_weight(
            name="positions",
            shape=(self.max_length, int(input_shape[-1])),
            initializer=keras.initializers.RandomNormal(stddev=0.02),
        )

    def call(self, inputs: Any) -> Any:
        length = ops.shape(inputs)[1]
        return inputs + ops.cast(self.positions[:length], inputs.dtype)[None, :, :]

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        return mask

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "max_length": self.max_length}


@register
class ClsToken(keras.layers.Layer):
    """Prepends a learned [CLS] vector to a sequence (and a True to its mask)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.supports_masking = True

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        self.token = self.add_weight(name="token", shape=(1, 1, int(input_shape[-1])), initializer="zeros")

    def call(self, inputs: Any) -> Any:
        batch = ops.shape(inputs)[0]
        token = ops.broadcast_to(ops.cast(self.token, inputs.dtype), (batch, 1, ops.shape(inputs)[-1]))
        return ops.concatenate([token, inputs], axis=1)

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        if mask is None:
            return None
        return ops.concatenate([ops.ones_like(mask[:, :1]), mask], axis=1)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        length = None if input_shape[1] is None else input_shape[1] + 1
        return (input_shape[0], length, input_shape[2])


class PreNormBlock(keras.layers.Layer):
    """What kproto's Transformer blocks share: their options, the pre-norm attention and feed-forward sublayers, and
    the residual feed-forward step. The encoder block here and the seq2seq blocks (kproto.models.seq2seq_layers) add
    their own attention; saved models name only those registered subclasses."""

    def __init__(
        self, heads: int, key_dim: int, ff_units: int, dropout: float = 0.0, activation: str = "gelu", **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.heads, self.key_dim, self.ff_units = int(heads), int(key_dim), int(ff_units)
        self.dropout, self.activation = float(dropout), activation

    def build_block(self, shape: tuple[int | None, ...]) -> None:
        """Create and build the self-attention and feed-forward sublayers for inputs of `shape`."""
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

    def activate(self, x: Any) -> Any:
        """The feed-forward activation; GELU in its tanh form (as in BERT and GPT-2): the exact form's erf has no
        ONNX/TFLite kernel everywhere."""
        if self.activation == "gelu":
            return keras.activations.gelu(x, approximate=True)
        return keras.activations.get(self.activation)(x)

    def feed_forward(self, x: Any, training: bool | None = None) -> Any:
        """x + FeedForward(LN(x))."""
        h = self.ff_out(self.drop(self.activate(self.ff_in(self.norm2(x))), training=training))
        return x + self.drop(h, training=training)

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
class TransformerEncoder(PreNormBlock):
    """One pre-norm encoder block: x + Attention(LN(x)), then x + FeedForward(LN(x)); padding is masked."""

    def __init__(
        self, heads: int, key_dim: int, ff_units: int, dropout: float = 0.0, activation: str = "gelu", **kwargs: Any
    ) -> None:
        super().__init__(heads, key_dim, ff_units, dropout, activation, **kwargs)
        self.supports_masking = True

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        self.build_block(tuple(input_shape))

    def call(self, inputs: Any, mask: Any = None, training: bool | None = None) -> Any:
        attention_mask = None
        if mask is not None:
            keep = ops.cast(mask, "bool")
            attention_mask = ops.logical_and(keep[:, :, None], keep[:, None, :])
        h = self.norm1(inputs)
        h = self.attention(h, h, attention_mask=attention_mask, training=training)
        return self.feed_forward(inputs + self.drop(h, training=training), training)

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        return mask


@register
class SequencePooling(keras.layers.Layer):
    """[batch, length, dim] → [batch, dim] by masked mean, masked max, or the first ([CLS]) position."""

    def __init__(self, mode: str = "mean", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if mode not in ("mean", "max", "cls"):
            raise ValueError(f"pooling mode must be mean, max or cls, received {mode!r}")
        self.mode = mode
        self.supports_masking = True

    def call(self, inputs: Any, mask: Any = None) -> Any:
        if self.mode == "cls":
            return inputs[:, 0, :]
        if mask is None:
            return ops.mean(inputs, axis=1) if self.mode == "mean" else ops.max(inputs, axis=1)
        keep = ops.cast(mask, inputs.dtype)[:, :, None]
        if self.mode == "mean":
            return ops.sum(inputs * keep, axis=1) / ops.maximum(ops.sum(keep, axis=1), 1.0)
        lowest = ops.cast(-1e4, inputs.dtype)
        pooled = ops.max(ops.where(keep > 0, inputs, lowest), axis=1)
        return ops.where(ops.sum(keep, axis=1) > 0, pooled, ops.zeros_like(pooled))

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        return None

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return (input_shape[0], input_shape[2])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "mode": self.mode}


@register
class GatedLinearUnit(keras.layers.Layer):
    """The glu activation as a layer that reports its real output width (half the input's)."""

    def call(self, inputs: Any) -> Any:
        return keras.activations.glu(inputs)

    def compute_output_shape(self, input_shape: Any) -> Any:
        last = input_shape[-1]
        return (*input_shape[:-1], None if last is None else last // 2)


def _window_level(inputs: Any, channel: int) -> tuple[Any, Any, Any]:
    """(the target channel [batch, length], its last value [batch, 1], its mean absolute step [batch, 1])."""
    values = inputs[:, :, channel]
    last = values[:, -1:]
    steps = ops.abs(values[:, 1:] - values[:, :-1])
    scale = ops.mean(steps, axis=1, keepdims=True) if values.shape[1] and values.shape[1] > 1 else ops.ones_like(last)
    return values, last, scale + 1e-3


@register
class WindowNormalize(keras.layers.Layer):
    """Replaces a window's target channel by its values relative to the window's last value, in units of the
    window's mean absolute step (reversible: WindowRestore undoes it on the forecasts)."""

    def __init__(self, channel: int = 0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.channel = int(channel)

    def call(self, inputs: Any) -> Any:
        values, last, scale = _window_level(inputs, self.channel)
        relative = ((values - last) / scale)[:, :, None]
        parts = [inputs[:, :, : self.channel], relative, inputs[:, :, self.channel + 1 :]]
        return ops.concatenate([p for p in parts if p.shape[-1] != 0], axis=-1)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "channel": self.channel}


@register
class TargetChannel(keras.layers.Layer):
    """The target channel of windows [batch, length, features] as [batch, length]."""

    def __init__(self, channel: int = 0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.channel = int(channel)

    def call(self, inputs: Any) -> Any:
        return inputs[:, :, self.channel]

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "channel": self.channel}


@register
class WindowRestore(keras.layers.Layer):
    """Forecasts made relative to each window ([batch, horizon]) back in the target's units:
    mean + std · (last + scale · forecast), where the window's target channel is (value − mean) / std."""

    def __init__(self, channel: int = 0, mean: float = 0.0, std: float = 1.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.channel, self.mean, self.std = int(channel), float(mean), float(std)

    def call(self, inputs: Any) -> Any:
        relative, windows = inputs
        _, last, scale = _window_level(windows, self.channel)
        return self.mean + self.std * (last + scale * ops.cast(relative, last.dtype))

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape[0]

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "channel": self.channel, "mean": self.mean, "std": self.std}


@register
class WordPresence(keras.layers.Layer):
    """The wide part of a wide-and-deep text model: a linear function of which vocabulary tokens a text holds.

    [batch, length] token ids → [batch, units]: each distinct non-padding token's weight row, summed and divided by
    the square root of the number of distinct tokens. That is a binary bag of words, L2-normalized, times a weight
    matrix, the features of logistic regression on word presence. With `pair_buckets`, each pair of neighbouring
    tokens is a feature too, hashed into that many rows after the vocabulary's. The weights start at zero (the
    model starts as its deep part alone), carry an L2 penalty `l2` and are used `scale` times their stored size, so
    plain optimizer steps move them as far as a linear model needs in a few epochs."""

    def __init__(
        self,
        vocab_size: int,
        units: int,
        l2: float = 1e-4,
        scale: float = 10.0,
        pair_buckets: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.vocab_size, self.units, self.l2, self.scale = int(vocab_size), int(units), float(l2), float(scale)
        self.pair_buckets = int(pair_buckets)

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        self.kernel = self.add_weight(
            shape=(self.vocab_size + self.pair_buckets, self.units),
            initializer="zeros",
            regularizer=keras.regularizers.L2(self.l2) if self.l2 else None,
            name="kernel",
        )

    def _features(self, ids: Any) -> Any:
        """The token ids, then (with pair buckets) each neighbouring pair's bucket after the vocabulary; 0: none."""
        if not self.pair_buckets:
            return ids
        buckets = self.pair_buckets  # below 46,341, so every product stays inside int32
        first, second = ids[:, :-1], ids[:, 1:]
        hashed = ((first % buckets) * (PAIR_PRIME % buckets) % buckets + second % buckets) % buckets
        pairs = ops.where(ops.logical_and(first > 0, second > 0), hashed + self.vocab_size, ops.zeros_like(first))
        return ops.concatenate([ids, pairs], axis=-1)

    def call(self, inputs: Any) -> Any:
        ids = ops.sort(self._features(ops.cast(inputs, "int32")), axis=-1)  # order does not matter; repeats meet
        earlier = ops.concatenate([ops.zeros_like(ids[:, :1]), ids[:, :-1]], axis=-1)
        first = ops.logical_and(ids > 0, ops.not_equal(ids, earlier))  # each distinct token once, padding (0) left out
        keep = ops.cast(first, self.compute_dtype)
        distinct = ops.maximum(ops.sum(keep, axis=-1, keepdims=True), 1.0)
        rows = ops.take(self.kernel, ids, axis=0)
        return self.scale * ops.sum(rows * keep[:, :, None], axis=1) / ops.sqrt(distinct)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return (input_shape[0], self.units)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "vocab_size": self.vocab_size,
            "units": self.units,
            "l2": self.l2,
            "scale": self.scale,
            "pair_buckets": self.pair_buckets,
        }
