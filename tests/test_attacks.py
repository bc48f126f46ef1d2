"""FGSM and PGD: bounded by epsilon, clipped, masked, and harmful to the model they attack."""

from __future__ import annotations

import numpy as np
import pytest

from kproto.attacks import Attacker, check_attack, class_indices, numeric_mask, robustness_curve, task_score
from kproto.errors import KprotoError


def linear_classifier():
    """Two classes decided by the sign of x0 - x1 (fixed weights, softmax output)."""
    import keras

    inputs = keras.Input((3,))
    layer = keras.layers.Dense(2, activation="softmax")
    model = keras.Model(inputs, layer(inputs))
    layer.set_weights([np.array([[4.0, -4.0], [-4.0, 4.0], [0.0, 0.0]], np.float32), np.zeros(2, np.float32)])
    return model


def small_cnn():
    import keras

    keras.utils.set_random_seed(3)
    inputs = keras.Input((6, 6, 1))
    hidden = keras.layers.Conv2D(4, 3, activation="relu", padding="same")(inputs)
    hidden = keras.layers.Flatten()(hidden)
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(hidden))


@pytest.mark.parametrize("method", ["fgsm", "pgd"])
def test_perturbation_stays_in_the_epsilon_ball_and_the_pixel_range(method: str) -> None:
    images = np.random.default_rng(0).uniform(size=(5, 6, 6, 1)).astype(np.float32)
    labels = np.array([0, 1, 2, 0, 1])
    attacker = Attacker(small_cnn(), "classification", method, 0.1, steps=4, clip=(0.0, 1.0))
    adversarial = attacker(images, labels)
    assert adversarial.shape == images.shape
    assert np.abs(adversarial - images).max() <= 0.1 + 1e-6
    assert adversarial.min() >= 0.0 and adversarial.max() <= 1.0
    assert np.abs(adversarial - images).max() > 0.05


def test_fgsm_steps_against_the_true_class() -> None:
    """For a linear model the signed gradient is known: class 0 rows move towards lower x0 and higher x1."""
    x = np.array([[1.0, 0.0, 0.5], [0.3, 0.1, -0.2]], np.float32)
    adversarial = Attacker(linear_classifier(), "classification", "fgsm", 0.25)(x, np.array([0, 0]))
    np.testing.assert_allclose(adversarial[:, :2] - x[:, :2], [[-0.25, 0.25], [-0.25, 0.25]], atol=1e-6)
    np.testing.assert_allclose(adversarial[:, 2], x[:, 2])  # the unused feature has no gradient


def test_mask_keeps_discrete_inputs_unchanged() -> None:
    x = np.array([[0.2, 0.1, 1.0]], np.float32)
    attacker = Attacker(linear_classifier(), "classification", "pgd", 0.3, steps=3, mask=np.array([1.0, 0.0, 0.0]))
    adversarial = attacker(x, np.array([0]))
    assert adversarial[0, 0] != x[0, 0]
    np.testing.assert_array_equal(adversarial[0, 1:], x[0, 1:])


def test_pgd_lowers_accuracy_more_than_it_costs_at_epsilon_zero() -> None:
    rng = np.random.default_rng(4)
    x = rng.normal(scale=0.3, size=(200, 3)).astype(np.float32)
    y = (x[:, 0] < x[:, 1]).astype(np.int32)
    attacker = Attacker(linear_classifier(), "classification", "pgd", 0.0, steps=5)
    curve = robustness_curve(attacker, x, y, (0.0, 0.1, 0.3))
    accuracies = [point["accuracy"] for point in curve]
    assert accuracies[0] == 1.0
    assert accuracies[0] > accuracies[1] > accuracies[2]


def test_regression_attack_raises_the_error() -> None:
    import keras

    inputs = keras.Input((2,))
    layer = keras.layers.Dense(1)
    model = keras.Model(inputs, layer(inputs))
    layer.set_weights([np.array([[2.0], [-1.0]], np.float32), np.zeros(1, np.float32)])
    x = np.zeros((4, 2), np.float32)
    y = np.zeros(4, np.float32)
    adversarial = Attacker(model, "regression", "pgd", 0.5, steps=5)(x, y)
    clean = task_score("regression", model.predict(x, verbose=0), y)[1]
    attacked = task_score("regression", model.predict(adversarial, verbose=0), y)[1]
    assert clean == 0.0 and attacked == pytest.approx(1.5, abs=1e-4)


@pytest.mark.parametrize(
    ("method", "epsilon", "steps", "kind", "task", "message"),
    [
        ("fgsm", 0.1, 1, "text", "classification", "discrete tokens|tokens are discrete"),
        ("pgd", 0.1, 10, "image", "generation", "classification or regression"),
        ("pgd", 0.1, 10, "tabular", "reconstruction", "classification or regression"),
        ("cw", 0.1, 10, "image", "classification", "unknown attack"),
        ("pgd", -0.1, 10, "image", "classification", "epsilon"),
        ("pgd", 0.1, 0, "image", "classification", "steps"),
    ],
)
def test_check_attack_refuses(method, epsilon, steps, kind, task, message) -> None:
    with pytest.raises(KprotoError, match=message):
        check_attack(method, epsilon, steps, kind, task)


def test_numeric_mask_marks_numeric_columns_only() -> None:
    state = {
        "categorical": "onehot",
        "columns": [
            {"name": "a", "type": "numeric"},
            {"name": "colour", "type": "categorical", "values": ["red", "green", "blue"]},
            {"name": "b", "type": "numeric"},
        ],
    }
    np.testing.assert_array_equal(numeric_mask(state), [1, 0, 0, 0, 1])


def test_class_indices_accepts_one_hot_rows() -> None:
    np.testing.assert_array_equal(class_indices(np.eye(3)[[2, 0]]), [2, 0])
    np.testing.assert_array_equal(class_indices(np.array([1, 2])), [1, 2])


def test_adversarial_engine_replaces_the_ratio_of_each_batch() -> None:
    from kproto.engines.adversarial import AdversarialEngine

    x = np.zeros((8, 3), np.float32)
    y = np.zeros(8, np.int32)
    attacker = Attacker(linear_classifier(), "classification", "fgsm", 0.5)
    engine = AdversarialEngine(attacker.model, batch_size=8, attacker=attacker, ratio=0.25)
    mixed = engine.mixed_batch(x, y)
    changed = np.flatnonzero(np.abs(mixed - x).max(axis=1) > 0)
    assert len(changed) == 2


@pytest.mark.slow
def test_adversarial_engine_trains_and_reports_epoch_logs() -> None:
    import keras

    from kproto.engines.adversarial import AdversarialEngine

    rng = np.random.default_rng(0)
    x = rng.normal(size=(96, 3)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int32)
    keras.utils.set_random_seed(0)
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(keras.layers.Dense(8)(inputs)))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    attacker = Attacker(model, "classification", "pgd", 0.05, steps=3)
    engine = AdversarialEngine(model, batch_size=16, attacker=attacker, ratio=0.5)
    seen = []
    logs = engine.train_epoch(x, y, rng.permutation(96), on_progress=lambda done, total: seen.append((done, total)))
    assert set(logs) >= {"loss", "accuracy"} and np.isfinite(logs["loss"])
    assert seen[-1] == (6, 6)
    assert 0 <= engine.evaluate(x, y)["accuracy"] <= 1
