"""kproto's serializable layers for tables: numeric embeddings and an efficient ensemble of shared-weight members.

- `PiecewiseLinearEncoding`: each numeric input spread over bins whose edges are training quantiles (given in the
  layer's config, so a saved model needs no data to load).
- `PeriodicEmbedding`: each numeric input as sines and cosines of learned frequencies, then a shared linear map
  and ReLU.
- `CategoryEmbedding`: index-coded categorical inputs (0 = unseen) as learned vectors, one table per column.
- `EnsembleFork` / `EnsembleMean`: k members that share every hidden layer; each sees the input through its own
  scaling vector (random signs at the start) and has its own scaling of the last hidden layer; their outputs are
  averaged before the task head (the head is linear, so this averages the members' predictions or logits).
- `EnsembleScale` / `MemberSpread`: the same members trained on their own predictions (TabM): the last hidden layer
  scaled per member without averaging, so the shared head can score each member, and a training-only loss, the
  members' spread around their mean, which turns the squared error of the averaged prediction into the mean of the
  members' squared errors.

Registered under the package name "kproto", so saved models load in safe mode once this module is imported
(kproto.core.catalog lists it among the modules to import before loading).
"""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np
from keras import ops

register = keras.saving.register_keras_serializable(package="kproto")


def bin_edges(grid: list[float], bins: int) -> list[float]:
    """At most `bins` bins' edges for one numeric input: the quantiles at levels 0, 1/bins, …, 1 read from `grid`
    (training quantiles at evenly spaced levels), repeated edges dropped; a constant input gets one bin of width 1."""
    levels = np.linspace(0.0, 1.0, len(grid))
    edges = np.unique(np.interp(np.linspace(0.0, 1.0, bins + 1), levels, np.asarray(grid, np.float64)))
    if len(edges) < 2:
        edges = np.array([edges[0] - 0.5, edges[0] + 0.5]) if len(edges) else np.array([-0.5, 0.5])
    return [float(e) for e in edges]


@register
class SelectColumns(keras.layers.Layer):
    """[batch, n] → [batch, len(indices)]: the inputs at `indices`, in that order."""

    def __init__(self, indices: list[int], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.indices = [int(i) for i in indices]

    def call(self, inputs: Any) -> Any:
        first = self.indices[0] if self.indices else 0
        if self.indices == list(range(first, first + len(self.indices))):  # a run of columns: a slice, no gather
            return inputs[:, first : first + len(self.indices)]
        return ops.take(inputs, np.asarray(self.indices, np.int32), axis=1)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return (input_shape[0], len(self.indices))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "indices": self.indices}


@register
class PiecewiseLinearEncoding(keras.layers.Layer):
    """[batch, n] numeric inputs → [batch, n × bins]: for bin t of input j, 0 below the bin, 1 above it and the
    position inside it in between; the first bin extends below the lowest edge and the last above the highest.
    Inputs with fewer bins than the widest are padded with zeros."""

    def __init__(self, edges: list[list[float]], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.edges = [[float(e) for e in column] for column in edges]
        if not self.edges or any(len(column) < 2 for column in self.edges):
            raise ValueError(f"every input needs at least two bin edges; received edges={self.edges}")
        self.bins = max(len(column) - 1 for column in self.edges)
        n = len(self.edges)
        left = np.zeros((n, self.bins), np.float32)
        width = np.ones((n, self.bins), np.float32)
        low = np.zeros((n, self.bins), np.float32)
        high = np.ones((n, self.bins), np.float32)
        used = np.zeros((n, self.bins), np.float32)
        for j, column in enumerate(self.edges):
            count = len(column) - 1
            left[j, :count] = column[:-1]
            width[j, :count] = np.maximum(np.diff(column), 1e-9)
            used[j, :count] = 1.0
            low[j, 0] = -np.inf
            high[j, count - 1] = np.inf
        self._left, self._width, self._low, self._high, self._used = left, width, low, high, used

    def call(self, inputs: Any) -> Any:
        x = ops.cast(inputs, "float32")[:, :, None]
        ratio = (x - self._left) / self._width
        ratio = ops.minimum(ops.maximum(ratio, self._low), self._high) * self._used
        return ops.cast(ops.reshape(ratio, (-1, len(self.edges) * self.bins)), self.compute_dtype)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return (input_shape[0], len(self.edges) * self.bins)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "edges": self.edges}


@register
class PeriodicEmbedding(keras.layers.Layer):
    """[batch, n] numeric inputs → [batch, n × dim]: cos and sin of 2π·c·x for `frequencies` learned frequencies c
    per input (initialised from N(0, sigma)), then one linear map shared by all inputs, and ReLU."""

    def __init__(self, frequencies: int = 16, dim: int = 16, sigma: float = 0.1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.frequencies, self.dim, self.sigma = int(frequencies), int(dim), float(sigma)
        if self.frequencies < 1 or self.dim < 1 or not self.sigma > 0:
            raise ValueError(
                "expected frequencies >= 1, dim >= 1 and sigma > 0; "
                f"received frequencies={frequencies}, dim={dim}, sigma={sigma}"
            )

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        n = int(input_shape[-1])
        self.n = n
        self.coefficients = self.add_weight(
            name="coefficients",
            shape=(n, self.frequencies),
            initializer=keras.initializers.RandomNormal(stddev=self.sigma),
        )
        self.kernel = self.add_weight(
            name="kernel", shape=(2 * self.frequencies, self.dim), initializer="glorot_uniform"
        )
        self.bias = self.add_weight(name="bias", shape=(self.dim,), initializer="zeros")

    def call(self, inputs: Any) -> Any:
        x = ops.cast(inputs, self.compute_dtype)[:, :, None]
        angle = 2.0 * math.pi * ops.cast(self.coefficients, self.compute_dtype)[None] * x
        features = ops.concatenate([ops.cos(angle), ops.sin(angle)], axis=-1)
        embedded = ops.relu(ops.matmul(features, ops.cast(self.kernel, self.compute_dtype)) + self.bias)
        return ops.reshape(embedded, (-1, self.n * self.dim))

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return (input_shape[0], int(input_shape[-1]) * self.dim)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "frequencies": self.frequencies, "dim": self.dim, "sigma": self.sigma}


@register
class CategoryEmbedding(keras.layers.Layer):
    """[batch, n] index-coded categorical inputs (0 = unseen, 1…size = the known categories) → [batch, n × dim],
    one learned table per column."""

    def __init__(self, sizes: list[int], dim: int = 8, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sizes, self.dim = [int(s) for s in sizes], int(dim)
        if not self.sizes or min(self.sizes) < 1 or self.dim < 1:
            raise ValueError(f"expected sizes >= 1 and dim >= 1; received sizes={sizes}, dim={dim}")
        self._offsets = np.cumsum([0] + [s + 1 for s in self.sizes[:-1]]).astype(np.int32)

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        rows = sum(s + 1 for s in self.sizes)
        self.table = self.add_weight(
            name="table", shape=(rows, self.dim), initializer=keras.initializers.RandomNormal(stddev=0.1)
        )

    def call(self, inputs: Any) -> Any:
        limits = np.asarray(self.sizes, np.int32)
        codes = ops.clip(ops.cast(ops.round(ops.cast(inputs, "float32")), "int32"), 0, limits)
        vectors = ops.take(ops.cast(self.table, self.compute_dtype), codes + self._offsets, axis=0)
        return ops.reshape(vectors, (-1, len(self.sizes) * self.dim))

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return (input_shape[0], len(self.sizes) * self.dim)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "sizes": self.sizes, "dim": self.dim}


@register
class EnsembleFork(keras.layers.Layer):
    """[batch, d] → [batch, k, d]: k copies of the input, each scaled by its member's vector (random signs at the
    start, learned), so the members that share the following layers start different."""

    def __init__(self, members: int, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.members, self.seed = int(members), seed
        if self.members < 1:
            raise ValueError(f"expected members >= 1; received members={members}")

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        width = int(input_shape[-1])
        signs = np.where(np.random.default_rng(self.seed).random((self.members, width)) < 0.5, -1.0, 1.0)
        self.scales = self.add_weight(
            name="scales", shape=(self.members, width), initializer=keras.initializers.Constant(signs)
        )

    def call(self, inputs: Any) -> Any:
        return inputs[:, None, :] * ops.cast(self.scales, inputs.dtype)[None]

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return (input_shape[0], self.members, input_shape[-1])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "members": self.members, "seed": self.seed}


@register
class EnsembleScale(keras.layers.Layer):
    """[batch, k, d] → [batch, k, d]: each member's vector scaled by its own learned vector (ones at the start)."""

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        self.scales = self.add_weight(
            name="scales", shape=(int(input_shape[1]), int(input_shape[-1])), initializer="ones"
        )

    def call(self, inputs: Any) -> Any:
        return inputs * ops.cast(self.scales, inputs.dtype)[None]


@register
class EnsembleMean(EnsembleScale):
    """[batch, k, d] → [batch, d]: the mean over the k members, each member's vector scaled by its own learned
    vector first (ones at the start), so the shared linear head after it acts as k rank-1 adapted heads;
    `scaled=False` averages members an `EnsembleScale` has already scaled."""

    def __init__(self, scaled: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scaled = bool(scaled)

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        if self.scaled:
            super().build(input_shape)

    def call(self, inputs: Any) -> Any:
        return ops.mean(super().call(inputs) if self.scaled else inputs, axis=1)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return (input_shape[0], input_shape[-1])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "scaled": self.scaled}


@register
class MemberSpread(keras.layers.Layer):
    """[prediction [batch, u], members [batch, k, u]] → prediction, unchanged. In training it adds `weight` × the
    members' variance around their mean (averaged over rows and units) to the loss. With the prediction the members'
    mean and a squared-error loss scaled by `weight`, loss + spread is the mean of the k members' own losses."""

    def __init__(self, weight: float = 1.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.weight = float(weight)
        if not self.weight >= 0:
            raise ValueError(f"expected weight >= 0; received weight={weight}")

    def call(self, inputs: list[Any], training: bool | None = None) -> Any:
        prediction, members = inputs
        if training:
            members = ops.cast(members, "float32")
            spread = ops.mean(ops.var(members, axis=1))
            self.add_loss(self.weight * spread)
        return prediction

    def compute_output_shape(self, input_shape: list[tuple[int | None, ...]]) -> tuple[int | None, ...]:
        return tuple(input_shape[0])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "weight": self.weight}
