"""kproto.training.schedules: the rate each schedule gives at every step, without training, and end to end in history.csv."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import keras
import pytest
from helpers import (
    history,
    recipe_for,
    train,
)

LR = 0.01


def _cosine(t: float, period: float) -> float:
    return 0.5 * (1 + math.cos(math.pi * min(t, period) / period))


def expected_rate(name: str, options: dict[str, Any], t: int, spe: int, epochs: int) -> float:
    """The rate a schedule gives step t (written from the schedules' definitions, independently of kproto)."""
    total = spe * epochs
    warm = options.get("warmup_epochs", 0) * spe
    if name == "constant":
        rate = LR
    elif name == "step":
        # Keras's PiecewiseConstantDecay keeps the old value at the boundary step itself (step <= boundary)
        rate = LR * 0.5 ** sum(t > b * spe for b in range(2, epochs, 2))
    elif name == "exponential":
        rate = LR * 0.5 ** (t // spe)
    elif name == "cosine":
        rate = LR * _cosine(t, total)
    elif name == "cosine_restarts":
        rate = LR * _cosine(t % (2 * spe), 2 * spe)
    elif name == "polynomial":
        rate = (LR - LR / 100) * (1 - min(t, total) / total) + LR / 100
    elif name == "one_cycle":
        peak, up = 10 * LR, 0.3 * total
        start, end = peak / 25, peak / 1e4
        rate = (
            start + (peak - start) * (1 - _cosine(t, up))
            if t < up
            else end + (peak - end) * _cosine(t - up, total - up)
        )
    else:
        raise AssertionError(name)
    return rate * (t + 1) / warm if t < warm else rate


SCHEDULES = [
    ("constant", {}),
    ("step", {"every": 2, "gamma": 0.5}),
    ("exponential", {"decay_rate": 0.5, "decay_epochs": 1, "staircase": True}),
    ("cosine", {}),
    ("cosine", {"warmup_epochs": 2}),
    ("cosine_restarts", {"first_decay_epochs": 2, "t_mul": 1.0}),
    ("polynomial", {}),
    ("one_cycle", {}),
    ("exponential", {"decay_rate": 0.5, "staircase": True, "warmup_epochs": 2}),
]


def schedule_spec(name: str, options: dict[str, Any]) -> Any:
    from kproto.recipe.schema import Schedule

    return Schedule(name=name, **options)


def rate_at(schedule: Any, step: int) -> float:
    return float(keras.ops.convert_to_numpy(schedule(step))) if callable(schedule) else float(schedule)


@pytest.mark.parametrize(("spe", "epochs"), [(8, 4), (3, 6)])
@pytest.mark.parametrize(
    ("name", "options"), SCHEDULES, ids=[f"{n}{'-warmup' if 'warmup_epochs' in o else ''}" for n, o in SCHEDULES]
)
def test_schedule_rate_at_every_step(name: str, options: dict[str, Any], spe: int, epochs: int) -> None:
    """What build_schedule alone decides: the rate at each step of the run, from the schedules' definitions."""
    from kproto.training.schedules import build_schedule

    schedule = build_schedule(schedule_spec(name, options), LR, spe, epochs)
    got = [rate_at(schedule, t) for t in range(spe * epochs)]
    wanted = [expected_rate(name, options, t, spe, epochs) for t in range(spe * epochs)]
    assert got == pytest.approx(wanted, rel=1e-4, abs=1e-9)


@pytest.mark.parametrize(
    ("name", "options"), SCHEDULES, ids=[f"{n}{'-warmup' if 'warmup_epochs' in o else ''}" for n, o in SCHEDULES]
)
def test_schedule_survives_a_safe_mode_round_trip(name: str, options: dict[str, Any]) -> None:
    """An optimizer with kproto's schedule serializes and comes back (safe mode) with the same rates."""
    from kproto.training.schedules import build_schedule

    schedule = build_schedule(schedule_spec(name, options), LR, 4, 4)
    optimizer = keras.optimizers.SGD(learning_rate=schedule)
    config = keras.saving.serialize_keras_object(optimizer)
    restored = keras.saving.deserialize_keras_object(config, safe_mode=True)
    for step in (0, 3, 7, 15):
        assert rate_at(restored._learning_rate, step) == pytest.approx(rate_at(schedule, step), rel=1e-6)


def test_last_step_rate_reads_the_rate_of_the_latest_step() -> None:
    from kproto.training.schedules import build_schedule, last_step_rate

    schedule = build_schedule(schedule_spec("exponential", {"decay_rate": 0.5, "staircase": True}), LR, 2, 4)
    variable = keras.Variable([1.0])
    optimizer = keras.optimizers.SGD(learning_rate=schedule)
    optimizer.build([variable])
    assert last_step_rate(optimizer) == pytest.approx(LR)  # before any step: the first step's rate
    optimizer.iterations.assign(4)  # 4 steps done: the 4th (step 3) ran at LR * 0.5
    assert last_step_rate(optimizer) == pytest.approx(LR * 0.5)
    plain = keras.optimizers.SGD(learning_rate=0.3)
    assert last_step_rate(plain) == pytest.approx(0.3)


def test_unknown_schedule_option_names_the_field() -> None:
    from kproto.core.errors import RecipeError
    from kproto.training.schedules import build_schedule

    with pytest.raises(RecipeError) as err:
        build_schedule(schedule_spec("cosine", {"alpah": 0.1}), LR, 4, 4)
    assert err.value.field == "train.schedule.alpah"
    assert "'alpah'" in err.value.message and "'alpha'" in err.value.message


def test_step_schedule_needs_one_more_value_than_boundaries() -> None:
    from kproto.core.errors import RecipeError
    from kproto.training.schedules import build_schedule

    with pytest.raises(RecipeError) as err:
        build_schedule(schedule_spec("step", {"boundaries": [1, 2], "values": [0.1, 0.01]}), LR, 4, 4)
    assert err.value.field == "train.schedule.values"
    schedule = build_schedule(schedule_spec("step", {"boundaries": [1], "values": [0.1, 0.01]}), LR, 4, 4)
    assert [rate_at(schedule, t) for t in (0, 3, 4, 5, 9)] == pytest.approx([0.1, 0.1, 0.1, 0.01, 0.01])


def test_plateau_is_left_to_the_training_loop() -> None:
    from kproto.training.schedules import build_schedule, plateau_options, plateau_warmup_rate

    spec = schedule_spec("plateau", {"patience": 1, "warmup_epochs": 2})
    assert build_schedule(spec, LR, 4, 4) == LR  # no Warmup wrapper: the loop warms a plateau up per epoch
    assert plateau_options(spec) == {"factor": 0.5, "patience": 1, "min_lr": 1e-6, "monitor": "val_loss"}
    assert [plateau_warmup_rate(spec, 1e-6, e) for e in range(4)] == pytest.approx([0.5e-6, 1e-6, None, None])
    assert plateau_options(schedule_spec("cosine", {})) is None and plateau_options(None) is None
    assert plateau_warmup_rate(schedule_spec("cosine", {"warmup_epochs": 2}), LR, 0) is None
    assert build_schedule(None, LR, 4, 4) == LR


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "options"), SCHEDULES, ids=[f"{n}{'-warmup' if 'warmup_epochs' in o else ''}" for n, o in SCHEDULES]
)
def test_schedule_learning_rate_per_epoch(
    runner: Any, tmp_path: Path, tiny_classification: Path, name: str, options: dict[str, Any]
) -> None:
    epochs = 4
    recipe = recipe_for(
        tiny_classification,
        epochs=epochs,
        early_stopping=False,
        optimizer={"name": "sgd", "learning_rate": LR},
        schedule={"name": name, **options},
    )
    run = train(runner, tmp_path, recipe)
    rows = json.loads((run / "preprocess.json").read_text())["info"]["rows"]["train"]
    spe = math.ceil(rows / 16)
    logged = history(run)["learning_rate"].tolist()
    wanted = [expected_rate(name, options, e * spe - 1, spe, epochs) for e in range(1, epochs + 1)]
    assert logged == pytest.approx(wanted, rel=1e-4, abs=1e-9)
    # the saved model (optimizer and its kproto schedule included) reloads in safe mode
    model = keras.saving.load_model(run / "model.keras", safe_mode=True)
    assert float(keras.ops.convert_to_numpy(model.optimizer.iterations)) == epochs * spe


@pytest.mark.slow
@pytest.mark.parametrize("warmup", [0, 2])
def test_plateau_reduces_the_rate(runner: Any, tmp_path: Path, tiny_classification: Path, warmup: int) -> None:
    """A tiny rate leaves val_accuracy flat, so every epoch after the first counts as a plateau."""
    recipe = recipe_for(
        tiny_classification,
        epochs=5,
        early_stopping=False,
        optimizer={"name": "sgd", "learning_rate": 1e-6},
        schedule={
            "name": "plateau",
            "monitor": "val_accuracy",
            "patience": 1,
            "factor": 0.5,
            "min_lr": 0,
            "warmup_epochs": warmup,
        },
    )
    logged = history(train(runner, tmp_path, recipe))["learning_rate"].tolist()
    if warmup:  # 1/2 then the full rate; plateau counting starts after the warmup
        wanted = [0.5e-6, 1e-6, 1e-6, 1e-6, 0.5e-6]
    else:
        wanted = [1e-6, 1e-6, 0.5e-6, 0.25e-6, 0.125e-6]
    assert logged == pytest.approx(wanted, rel=1e-5)
