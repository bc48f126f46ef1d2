"""Gradients of a model's output with respect to its input, on whichever backend Keras runs.

One small function per backend (TensorFlow's GradientTape, `jax.grad` over the model's stateless call, torch
autograd) sits behind `InputGradient`, which compiles once per model and objective and is then called on many
batches. `input_gradients(model, x, target_index)` is the common case: d model(x)[i, target_i] / d x_i.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from kproto.core import catalog

if TYPE_CHECKING:
    import keras

# objective(outputs, extra) -> a scalar tensor, written with keras.ops so that every backend can differentiate it.
Objective = Callable[[Any, Any], Any]


def selected_output(outputs: Any, target: Any) -> Any:
    """Sum over rows of outputs[i, target[i]] (outputs flattened to (rows, units))."""
    from keras import ops

    flat = ops.reshape(outputs, (ops.shape(outputs)[0], -1))
    chosen = ops.take_along_axis(flat, ops.expand_dims(ops.cast(target, "int32"), 1), axis=1)
    return ops.sum(chosen)


class InputGradient:
    """d objective(model(x), extra) / d x for the backend Keras runs on, compiled once and reused across batches."""

    def __init__(self, model: keras.Model, objective: Objective) -> None:
        import keras

        self.model = model
        self.objective = objective
        self.backend = keras.backend.backend()
        self._compiled: Any = None

    def __call__(self, x: np.ndarray, extra: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        if self.backend == catalog.TENSORFLOW:
            return self._tensorflow(x, extra)
        if self.backend == catalog.JAX:
            return self._jax(x, extra)
        if self.backend == catalog.TORCH:
            return self._torch(x, extra)
        from kproto.core.errors import KprotoError

        raise KprotoError(
            f"input gradients are not available on the {self.backend} backend",
            field="--backend",
            hint="use --backend tensorflow, jax or torch",
        )

    def _tensorflow(self, x: np.ndarray, extra: np.ndarray) -> np.ndarray:
        import tensorflow as tf

        if self._compiled is None:

            def gradient(inputs: Any, more: Any) -> Any:
                with tf.GradientTape() as tape:
                    tape.watch(inputs)
                    value = self.objective(self.model(inputs, training=False), more)
                return tape.gradient(value, inputs)

            self._compiled = tf.function(gradient, reduce_retracing=True)
        return np.asarray(self._compiled(tf.constant(x), tf.constant(extra)))

    def _jax(self, x: np.ndarray, extra: np.ndarray) -> np.ndarray:
        import jax

        model = self.model
        if self._compiled is None:

            def value(inputs: Any, trainable: Any, non_trainable: Any, more: Any) -> Any:
                outputs, _ = model.stateless_call(trainable, non_trainable, inputs, training=False)
                return self.objective(outputs, more)

            self._compiled = jax.jit(jax.grad(value))
        trainable = [v.value for v in model.trainable_variables]
        non_trainable = [v.value for v in model.non_trainable_variables]
        return np.asarray(self._compiled(x, trainable, non_trainable, np.asarray(extra)))

    def _torch(self, x: np.ndarray, extra: np.ndarray) -> np.ndarray:
        import torch

        device = next((v.value.device for v in self.model.weights), "cpu")
        inputs = torch.tensor(x, device=device, requires_grad=True)
        value = self.objective(self.model(inputs, training=False), torch.as_tensor(np.asarray(extra), device=device))
        (grad,) = torch.autograd.grad(value, inputs)
        return grad.detach().cpu().numpy()


def input_gradients(model: keras.Model, x: np.ndarray, target_index: int | np.ndarray | None = None) -> np.ndarray:
    """d model(x)[i, target_i] / d x_i for every row (same shape as x).

    `target_index` is one output unit for every row, one per row, or None for the first unit (a regression output).
    """
    rows = len(x)
    if target_index is None:
        target_index = 0
    targets = np.broadcast_to(np.asarray(target_index, dtype=np.int32), (rows,)).copy()
    return InputGradient(model, selected_output)(x, targets)


def model_outputs(model: keras.Model, x: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    """The model's outputs as a 2-D NumPy array (rows, units), in inference mode.

    `predict_on_batch` reuses one compiled predict function, so the many small calls of permutation importance and
    occlusion cost milliseconds each rather than `predict`'s set-up per call.
    """
    x = np.asarray(x)
    parts = [
        np.asarray(model.predict_on_batch(x[i : i + batch_size]), dtype=np.float64).reshape(
            len(x[i : i + batch_size]), -1
        )
        for i in range(0, len(x), batch_size)
    ]
    return np.concatenate(parts) if parts else np.zeros((0, 0))
