"""Serializable layers of the recommender family (registered under "kproto", so saved models load in safe mode)."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

register = keras.saving.register_keras_serializable(package="kproto")


@register
class IndexEmbedding(keras.layers.Layer):
    """Embeds float-coded indices from column `column` of the packed input. Row 0 is the unknown (cold-start)
    slot; in training each index is replaced by 0 with probability `unknown_rate`, so that row learns what to
    say about a user or item never seen (rate 0: the slot embeds to zeros)."""

    def __init__(
        self,
        count: int,
        dim: int,
        column: int,
        l2: float = 0.0,
        unknown_rate: float = 0.0,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.count, self.dim, self.column, self.l2 = int(count), int(dim), int(column), float(l2)
        self.unknown_rate, self.seed = float(unknown_rate), seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        self.embeddings = self.add_weight(
            name="embeddings",
            shape=(self.count, self.dim),
            initializer=keras.initializers.RandomNormal(stddev=0.05) if self.dim > 1 else "zeros",
            regularizer=keras.regularizers.L2(self.l2) if self.l2 else None,
        )

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        index = ops.cast(inputs[:, self.column], "int32")
        index = ops.where((index >= 0) & (index < self.count), index, 0)
        if training and self.unknown_rate:
            drop = keras.random.uniform(ops.shape(index), seed=self.seed_generator) < self.unknown_rate
            index = ops.where(drop, 0, index)
        vectors = ops.take(ops.cast(self.embeddings, self.compute_dtype), index, axis=0)
        if self.unknown_rate:
            return vectors
        return vectors * ops.cast(ops.greater(index, 0), self.compute_dtype)[:, None]

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return (input_shape[0], self.dim)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "count": self.count,
            "dim": self.dim,
            "column": self.column,
            "l2": self.l2,
            "unknown_rate": self.unknown_rate,
            "seed": self.seed,
        }


@register
class RowDot(keras.layers.Layer):
    """Row-wise dot product of two [batch, dim] tensors → [batch, 1]."""

    def call(self, inputs: Any) -> Any:
        first, second = inputs
        return ops.sum(first * second, axis=-1, keepdims=True)

    def compute_output_shape(self, input_shape: Any) -> tuple[int | None, ...]:
        return (input_shape[0][0], 1)


@register
class AddConstant(keras.layers.Layer):
    """x + a fixed number (the global mean rating)."""

    def __init__(self, value: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.value = float(value)

    def call(self, inputs: Any) -> Any:
        return inputs + ops.cast(self.value, inputs.dtype)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "value": self.value}


@register
class SecondItemRows(keras.layers.Layer):
    """Pairwise rows [user, item, user side…, item side…, item₂, item₂ side…, tally] → the pair rows of the
    second item, [user, item₂, user side…, item₂ side…], so the same scoring layers read both items."""

    def __init__(self, pair_width: int, user_features: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pair_width, self.user_features = int(pair_width), int(user_features)

    def call(self, inputs: Any) -> Any:
        pair, users = self.pair_width, self.user_features
        items = pair - 2 - users  # item side-feature width
        second = inputs[:, pair : pair + 1]
        return ops.concatenate(
            [inputs[:, :1], second, inputs[:, 2 : 2 + users], inputs[:, pair + 1 : pair + 1 + items]], axis=-1
        )

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return (input_shape[0], self.pair_width)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "pair_width": self.pair_width, "user_features": self.user_features}
