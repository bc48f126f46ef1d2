"""FGSM and PGD: bounded by epsilon, clipped, masked, and harmful to the model they attack."""

from __future__ import annotations

import numpy as np
import pytest

from kproto.core.errors import KprotoError
from kproto.robust.attacks import Attacker, check_attack, class_indices, numeric_mask, robustness_curve, task_score


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
        ("pgd", 0.1, 10, "table", "reconstruction", "classification or regression"),
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
    state["columns"][0]["indicator"] = True  # its 0/1 missing-value input is never perturbed
    np.testing.assert_array_equal(numeric_mask(state), [1, 0, 0, 0, 0, 1])


def test_class_indices_accepts_one_hot_rows() -> None:
    np.testing.assert_array_equal(class_indices(np.eye(3)[[2, 0]]), [2, 0])
    np.testing.assert_array_equal(class_indices(np.array([1, 2])), [1, 2])


def test_adversarial_engine_replaces_the_ratio_of_each_batch() -> None:
    from kproto.training.engines.adversarial import AdversarialEngine

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

    from kproto.training.engines.adversarial import AdversarialEngine

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


# --------------------------------------------------------------------------- the commands
def digits_recipe(folder, **train) -> object:
    import yaml
    from conftest import DATA

    recipe = {
        "name": "adv",
        "seed": 1,
        "data": {"path": str(DATA / "digits.csv"), "target": "label", "shape": [8, 8, 1], "limit": 300},
        "model": {"type": "cnn", "filters": [4], "dense": [8]},
        "train": {"epochs": 2, "batch_size": 32, **train},
    }
    path = folder / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory: pytest.TempPathFactory):
    """An untrained CNN run on 300 digits, shared by the command tests below (they only read it, `plot` adds a
    figure)."""
    from helpers import untrained_run

    folder = tmp_path_factory.mktemp("adv")
    return untrained_run(digits_recipe(folder), folder / "runs")


def test_evaluate_attack_block(runner, digits_run) -> None:
    import json

    from kproto.cli import cli

    run = digits_run
    result = runner.invoke(cli, ["evaluate", str(run), "--attack", "pgd", "--epsilon", "0.1", "--steps", "3", "--json"])
    assert result.exit_code == 0, result.output
    attack = json.loads(result.output)["attack"]
    assert {"method", "epsilon", "steps", "clean", "adversarial"} <= set(attack)
    assert (attack["method"], attack["epsilon"], attack["steps"]) == ("pgd", 0.1, 3)
    assert set(attack["clean"]) == set(attack["adversarial"]) >= {"accuracy", "loss"}
    assert attack["adversarial"]["loss"] >= attack["clean"]["loss"]
    shown = runner.invoke(cli, ["evaluate", str(run), "--attack", "fgsm", "--epsilon", "0.05"])
    assert shown.exit_code == 0, shown.output
    assert "FGSM, epsilon 0.05 in scaled pixels in [0, 1]" in " ".join(shown.output.split())


def test_evaluate_attack_needs_epsilon_and_refuses_text(runner, tmp_path, digits_run) -> None:
    import pandas as pd
    import yaml
    from helpers import assert_clean_error, untrained_run

    from kproto.cli import cli

    assert_clean_error(runner.invoke(cli, ["evaluate", str(digits_run), "--attack", "pgd"]), says="needs --epsilon")
    words = ["good tasty fresh lovely", "bad stale awful bland"]
    rows = [{"text": f"{words[i % 2]} item number {i}", "label": ["pos", "neg"][i % 2]} for i in range(60)]
    pd.DataFrame(rows).to_csv(tmp_path / "text.csv", index=False)
    recipe = {
        "name": "txt",
        "data": {"path": str(tmp_path / "text.csv"), "target": "label", "text": "text", "sequence_length": 8},
        "model": {"type": "lstm", "units": [4], "embedding_dim": 4},
    }
    (tmp_path / "text.yaml").write_text(yaml.safe_dump(recipe))
    text_run = untrained_run(tmp_path / "text.yaml", tmp_path / "text-runs")
    result = runner.invoke(cli, ["evaluate", str(text_run), "--attack", "fgsm", "--epsilon", "0.1"])
    assert_clean_error(result, says="not supported for text", field="--attack")


def test_plot_draws_the_robustness_curve(runner, digits_run) -> None:
    from kproto.cli import cli

    run = digits_run
    result = runner.invoke(cli, ["plot", str(run)])
    assert result.exit_code == 0, result.output
    assert (run / "robustness.png").stat().st_size > 1000


@pytest.mark.parametrize(
    ("train", "says"),
    [
        ({"adversarial": {"epsilon": 0.1}, "distribute": "mirrored"}, "one device"),
    ],
)
def test_adversarial_training_refuses_engines_that_cannot(runner, tmp_path, train, says) -> None:
    from helpers import assert_refused

    from kproto.cli import cli

    result = runner.invoke(cli, ["train", str(digits_recipe(tmp_path, **train)), "--out", str(tmp_path / "runs")])
    assert_refused(result, says)


@pytest.mark.parametrize(
    ("kind", "task", "engine", "says"),
    [
        ("image", "classification", "fused", "fused engine"),
        ("text", "classification", "auto", "not supported for text"),
        ("table", "generation", "auto", "classification or regression"),
    ],
)
def test_adversarial_training_check(kind: str, task: str, engine: str, says: str) -> None:
    from types import SimpleNamespace

    from kproto.training.engines.adversarial import check_supported

    recipe = SimpleNamespace(train=SimpleNamespace(distribute="none"))
    with pytest.raises(KprotoError, match=says):
        check_supported(recipe, kind, task, engine, streamed=False)


def test_adversarial_recipe_fields_are_checked(runner, tmp_path) -> None:
    from kproto.cli import cli

    result = runner.invoke(cli, ["validate", str(digits_recipe(tmp_path, adversarial={"method": "cw", "epsilon": 1}))])
    assert result.exit_code == 2 and "train.adversarial.method" in result.output
    result = runner.invoke(cli, ["validate", str(digits_recipe(tmp_path, adversarial={"method": "pgd"}))])
    assert result.exit_code == 2 and "epsilon" in result.output


@pytest.mark.slow
def test_adversarial_training_runs_on_the_fit_path(runner, tmp_path) -> None:
    import json

    from kproto.cli import cli

    recipe = digits_recipe(tmp_path, adversarial={"method": "fgsm", "epsilon": 0.1, "ratio": 0.5})
    result = runner.invoke(cli, ["train", str(recipe), "--out", str(tmp_path / "runs")])
    assert result.exit_code == 0, result.output
    (run,) = (tmp_path / "runs").glob("*/*/metrics.json")
    metrics = json.loads(run.read_text())
    assert metrics["engine"] == "adversarial" and metrics["status"] == "completed"
    assert metrics["epochs"] == 2
