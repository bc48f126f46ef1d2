"""Data-parallel engines: tf.distribute strategies (Mirrored, MultiWorkerMirrored) with Keras's own steps, and
Keras 3's DataParallel on JAX.

Every worker builds the same tf.data.Dataset (same rows, same order, global batches); the DATA auto-shard policy
splits each global batch across all replicas of all workers, so every worker runs the same number of steps. Each step
is the model's own `train_step` / `test_step` run per replica by `strategy.run`; gradients are all-reduced by the
Keras optimizer, and the epoch's numbers are read from the metric variables, which sum over all replicas when read.

kproto drives the steps itself instead of calling `model.fit`/`model.evaluate`: with more than one worker, Keras 3's
TensorFlow trainer fails in both (keras-team/keras#20585: `strategy.reduce` of the (x, y) batch and of scalar logs
along axis 0).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import keras
import numpy as np

from kproto.training.engines.fit import FitEngine


def global_batches(
    x: np.ndarray, y: np.ndarray | None, sample_weight: np.ndarray | None, batch_size: int, drop_remainder: bool = False
) -> Any:
    """A tf.data.Dataset of (x, y[, w]) batches of `batch_size` rows, sharded by data across workers."""
    import tensorflow as tf

    parts = tuple(p for p in (x, y, sample_weight) if p is not None)
    dataset = tf.data.Dataset.from_tensor_slices(parts if len(parts) > 1 else parts[0])
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options).prefetch(tf.data.AUTOTUNE)


def training_rows(rows: int, batch_size: int, replicas: int) -> int:
    """Rows one epoch trains on: all, unless several replicas share the steps; then whole global batches only, so
    that no replica gets an empty last batch (the rows left out differ each epoch, as the order is reshuffled)."""
    if replicas <= 1 or rows < batch_size:
        return rows
    return rows - rows % batch_size


class DistributedFitEngine(FitEngine):
    """The fit engine for a model built and compiled under a tf.distribute strategy; `batch_size` is global."""

    name = "fit"

    def __init__(self, model: keras.Model, batch_size: int, should_stop: Callable[[], bool] = lambda: False) -> None:
        super().__init__(model, batch_size, should_stop)
        self.strategy = model.distribute_strategy
        self.replicas = int(self.strategy.num_replicas_in_sync)
        self._train_step: Any = None
        self._test_step: Any = None
        self._built = False

    def _build(self, x: np.ndarray, y: np.ndarray | None, sample_weight: np.ndarray | None) -> None:
        """Create the metric, loss and optimizer variables in cross-replica context (they must not be created inside
        a replica's step). Only shapes and dtypes matter, so two local rows do."""
        if self._built:
            return
        import tensorflow as tf

        rows = slice(0, min(len(x), 2))
        batch = (x[rows], None if y is None else y[rows], None if sample_weight is None else sample_weight[rows])
        with self.strategy.scope():
            self.model._symbolic_build(data_batch=batch)
        jit = bool(self.model.jit_compile)
        train_step = tf.function(self.model.train_step, jit_compile=jit, reduce_retracing=True)
        test_step = tf.function(self.model.test_step, jit_compile=jit, reduce_retracing=True)
        run = self.strategy.run
        self._train_step = tf.function(lambda batch: run(train_step, args=(batch,)), reduce_retracing=True)
        self._test_step = tf.function(lambda batch: run(test_step, args=(batch,)), reduce_retracing=True)
        self._built = True

    def _logs(self) -> dict[str, float]:
        return {k: float(keras.ops.convert_to_numpy(v)) for k, v in self.model.get_metrics_result().items()}

    def train_epoch(
        self,
        x: np.ndarray,
        y: np.ndarray,
        order: np.ndarray,
        sample_weight: np.ndarray | None = None,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> dict[str, float]:
        self._build(x, y, sample_weight)
        order = order[: training_rows(len(order), self.batch_size, self.replicas)]
        steps = max(-(-len(order) // self.batch_size), 1)
        data = global_batches(
            x[order],
            None if y is None else y[order],
            None if sample_weight is None else sample_weight[order],
            self.batch_size,
            drop_remainder=self.replicas > 1 and len(order) >= self.batch_size,
        )
        self.model.reset_metrics()
        last = 0.0
        for step, batch in enumerate(self.strategy.experimental_distribute_dataset(data), start=1):
            self._train_step(batch)
            now = time.monotonic()
            if on_progress is not None and now - last > 0.1:
                last = now
                on_progress(step, steps)
            if self.should_stop():
                break
        if on_progress is not None:
            on_progress(steps, steps)
        return self._logs()

    def evaluate(self, x: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None) -> dict[str, float]:
        if len(x) == 0:
            return {}
        self._build(x, y, sample_weight)
        data = global_batches(x, y, sample_weight, max(self.batch_size, 256))
        self.model.reset_metrics()
        for batch in self.strategy.experimental_distribute_dataset(data):
            self._test_step(batch)
        return self._logs()


class DataParallelEngine(FitEngine):
    """The fit engine under Keras 3's DataParallel (JAX): each global batch is split across the local devices.

    JAX shards a batch only into equal parts, so each epoch trains on a multiple of the device count (at most
    devices - 1 rows, different each epoch, are left out); evaluation runs outside the distribution on whole data.
    """

    def __init__(
        self, model: keras.Model, batch_size: int, should_stop: Callable[[], bool], distribution: Any, replicas: int
    ) -> None:
        super().__init__(model, batch_size, should_stop)
        self.distribution = distribution
        self.replicas = replicas

    def train_epoch(
        self,
        x: np.ndarray,
        y: np.ndarray,
        order: np.ndarray,
        sample_weight: np.ndarray | None = None,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> dict[str, float]:
        order = order[: len(order) - len(order) % self.replicas] if len(order) >= self.replicas else order
        with self.distribution.scope():
            return super().train_epoch(x, y, order, sample_weight, on_progress)


def distributed_engine(
    distribution: Any, model: keras.Model, batch_size: int, should_stop: Callable[[], bool]
) -> FitEngine:
    """The engine for a kproto.training.distribute.Distribution (mirrored, multi_worker or data_parallel)."""
    if distribution.mode == "data_parallel":
        return DataParallelEngine(model, batch_size, should_stop, distribution.strategy, distribution.replicas)
    return DistributedFitEngine(model, batch_size, should_stop)
