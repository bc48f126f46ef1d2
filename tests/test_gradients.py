"""Input gradients on the backend Keras runs on, checked against finite differences."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from kproto.robust.gradients import input_gradients, model_outputs


def tiny_model(outputs: int = 3, activation: str = "softmax", seed: int = 0):
    import keras

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(6, activation="tanh")(inputs)
    return keras.Model(inputs, keras.layers.Dense(outputs, activation=activation)(hidden))


def finite_differences(model, x: np.ndarray, unit: np.ndarray, step: float = 1e-3) -> np.ndarray:
    grads = np.zeros_like(x, dtype=np.float64)
    rows = np.arange(len(x))
    for j in range(x.shape[1]):
        shift = np.zeros_like(x)
        shift[:, j] = step
        up = model_outputs(model, x + shift)[rows, unit]
        down = model_outputs(model, x - shift)[rows, unit]
        grads[:, j] = (up - down) / (2 * step)
    return grads


@pytest.mark.parametrize(
    ("outputs", "activation", "target"),
    [
        (3, "softmax", 1),  # one unit for every row
        (3, "softmax", np.array([0, 1, 2, 1, 0])),  # one unit per row
        (1, None, None),  # a regression output
    ],
)
def test_gradients_match_finite_differences(outputs: int, activation: str | None, target) -> None:
    model = tiny_model(outputs, activation)
    x = np.random.default_rng(1).normal(size=(5, 4)).astype(np.float32)
    unit = np.broadcast_to(np.asarray(0 if target is None else target), (5,))
    grads = input_gradients(model, x, target)
    assert grads.shape == x.shape
    np.testing.assert_allclose(grads, finite_differences(model, x, unit), atol=2e-4)


def test_gradients_of_one_row_do_not_depend_on_the_others() -> None:
    model = tiny_model()
    x = np.random.default_rng(2).normal(size=(4, 4)).astype(np.float32)
    together = input_gradients(model, x, 2)
    alone = input_gradients(model, x[1:2], 2)
    np.testing.assert_allclose(together[1:2], alone, rtol=1e-5, atol=1e-7)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["jax", "tensorflow"])
def test_backends_agree(backend: str, tmp_path) -> None:
    """The same weights give the same input gradients on each backend (run in a fresh process per backend)."""
    script = textwrap.dedent(
        """
        import numpy as np, keras
        from kproto.robust.gradients import input_gradients
        keras.utils.set_random_seed(0)
        inputs = keras.Input((4,))
        hidden = keras.layers.Dense(6, activation="tanh")(inputs)
        model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(hidden))
        x = np.random.default_rng(1).normal(size=(5, 4)).astype("float32")
        weights = np.load(r"{weights}", allow_pickle=False)
        model.set_weights([weights[f"w{{i}}"] for i in range(len(weights.files))])
        print(repr(input_gradients(model, x, 1).round(6).tolist()))
        """
    )
    model = tiny_model()
    path = tmp_path / "weights.npz"
    np.savez(path, **{f"w{i}": w for i, w in enumerate(model.get_weights())})
    env = {**os.environ, "KERAS_BACKEND": backend, "CUDA_VISIBLE_DEVICES": "-1"}
    result = subprocess.run(
        [sys.executable, "-c", script.format(weights=path)], capture_output=True, text=True, env=env, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    x = np.random.default_rng(1).normal(size=(5, 4)).astype(np.float32)
    expected = input_gradients(model, x, 1)
    np.testing.assert_allclose(np.array(eval(result.stdout.strip().splitlines()[-1])), expected, atol=1e-5)
