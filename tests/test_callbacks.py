"""kproto.training.callbacks: each end-of-epoch concern on its own, without training."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from kproto.core.errors import KprotoError, TrainingDiverged
from kproto.training import callbacks
from kproto.training.callbacks import BestEpoch, Checkpoints, EarlyStop, FiniteLoss, MonitorLogged, PlateauSchedule
from kproto.training.checkpoint import Checkpoint
from kproto.training.controls import Plateau


class FakeModel:
    def __init__(self) -> None:
        self.weights = [1.0]
        self.optimizer = SimpleNamespace(learning_rate=0.1)

    def get_weights(self) -> list[float]:
        return list(self.weights)

    def set_weights(self, weights: list[float]) -> None:
        self.weights = list(weights)


@pytest.mark.parametrize(
    ("row", "diverged"),
    [
        ({"epoch": 1, "loss": 0.5, "val_loss": 0.6, "seconds": 1.0}, False),
        ({"epoch": 1, "loss": math.nan, "seconds": 1.0}, True),
        ({"epoch": 1, "loss": 0.5, "val_loss": math.inf}, True),
        ({"epoch": 1, "loss": 0.5, "accuracy": math.nan}, False),  # only losses are checked
    ],
)
def test_finite_loss(row: dict[str, Any], diverged: bool, tmp_path: Path) -> None:
    check = FiniteLoss(tmp_path)
    if diverged:
        with pytest.raises(TrainingDiverged, match="in epoch 1; training stopped") as err:
            check.on_epoch_end(0, row, Checkpoint())
        assert "nothing was saved" in (err.value.hint or "")
    else:
        check.on_epoch_end(0, row, Checkpoint())


def test_the_monitored_value_must_be_logged() -> None:
    MonitorLogged("val_loss").on_epoch_end(0, {"epoch": 1, "val_loss": 1.0}, Checkpoint())
    with pytest.raises(KprotoError, match="'val_auc' is not a logged value") as err:
        MonitorLogged("val_auc").on_epoch_end(0, {"epoch": 1, "loss": 1.0, "seconds": 2.0}, Checkpoint())
    assert err.value.field == "train.early_stopping.monitor" and err.value.hint == "logged: loss"


def test_best_epoch_and_early_stop_follow_the_monitor_direction() -> None:
    model, state = FakeModel(), Checkpoint()
    best = BestEpoch(model, "val_accuracy", min_delta=0.01)
    early = EarlyStop(SimpleNamespace(patience=2), "val_accuracy")
    for epoch, value in enumerate([0.5, 0.8, 0.805, 0.7]):
        model.weights = [float(epoch)]
        best.on_epoch_end(epoch, {"val_accuracy": value}, state)
    assert (state.best, state.best_epoch, state.wait) == (0.8, 2, 2)
    assert best.weights == [1.0] and not best.better
    assert early.should_stop(3, state)
    assert "has not improved for 2 epochs (best: epoch 2)" in early.message(state)
    assert not EarlyStop(SimpleNamespace(patience=2), "val_accuracy", lambda epoch: True).should_stop(3, state)
    assert not EarlyStop(None, "val_accuracy").should_stop(3, state)


def test_checkpoints_after_the_first_epoch_then_every_few_seconds_and_when_training_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every epoch is logged; the model checkpoint follows the first epoch, then waits `every` seconds; each checkpoint
    brings the run's model file up to the best epoch so far (a copy when that is the epoch being checkpointed)."""
    written: list[tuple[str, Any]] = []  # what reached the run's model file
    monkeypatch.setattr(callbacks, "copy_atomic", lambda source, target: written.append(("copy", source.name)))
    monkeypatch.setattr(callbacks, "save_model_atomic", lambda model, path: written.append(("best", model.weights)))
    model, state = FakeModel(), Checkpoint()
    best = BestEpoch(model, "val_loss")
    now, saved, logged = [0.0], [], []

    def save(booked: Checkpoint) -> None:
        booked.model_file = f"epoch-{booked.epoch}"
        saved.append(booked.epoch)

    run = SimpleNamespace(path=tmp_path, checkpoints=tmp_path / "checkpoint")
    checkpoints = Checkpoints(run, save, lambda booked: logged.append(booked.epoch), best, 5.0, lambda: now[0])
    for epoch, (seconds, loss) in enumerate([(1, 0.9), (2, 0.8), (3, 0.85), (7, 0.95), (8, 0.7), (9, 0.75)]):
        now[0], model.weights = seconds, [float(epoch)]
        best.on_epoch_end(epoch, {"val_loss": loss}, state)
        state.epoch = epoch + 1
        checkpoints.on_epoch_end(epoch, {}, state)
    checkpoints.flush(state)
    checkpoints.flush(state)  # once per epoch
    assert saved == [1, 4, 6] and logged == [2, 3, 5, 6]
    assert written == [("copy", "epoch-1"), ("best", [1.0]), ("best", [4.0])]
    assert model.weights == [5.0]  # the last epoch's weights are back after saving the best ones


def test_plateau_cuts_the_rate_after_patience_but_not_while_warming() -> None:
    model, state, said = FakeModel(), Checkpoint(), []
    schedule = PlateauSchedule(
        Plateau("loss", patience=1, factor=0.5, min_lr=0.0),
        model,
        warming=lambda epoch: epoch == 0,
        current_rate=lambda: model.optimizer.learning_rate,
        report=said.append,
    )
    for epoch in range(4):
        schedule.on_epoch_end(epoch, {"loss": 1.0}, state)
    assert model.optimizer.learning_rate < 0.1 and said and said[0].startswith("plateau: learning rate reduced")


# ----------------------------------------------------------------------------------------------- precise batch norm


def bn_model(nested: bool) -> Any:
    """Inputs -> Dense -> BatchNormalization (optionally inside a nested model) -> a frozen BatchNormalization."""
    import keras

    inputs = keras.Input((3,))
    x = keras.layers.Dense(4, kernel_initializer="ones", name="dense")(inputs)
    bn = keras.layers.BatchNormalization(name="bn")
    if nested:
        inner_in = keras.Input((4,))
        x = keras.Model(inner_in, bn(inner_in), name="inner")(x)
    else:
        x = bn(x)
    frozen = keras.layers.BatchNormalization(name="frozen")
    frozen.trainable = False
    return keras.Model(inputs, frozen(x)), bn, frozen


@pytest.mark.parametrize("nested", [False, True])
@pytest.mark.parametrize(("rows", "batch_size", "used"), [(100, 16, 96), (10, 16, 10), (5000, 32, 4096)])
def test_precise_batch_norm_sets_population_statistics(nested: bool, rows: int, batch_size: int, used: int) -> None:
    import numpy as np

    from kproto.training.callbacks import PreciseBatchNorm, trainable_batch_norms

    model, bn, frozen = bn_model(nested)
    assert trainable_batch_norms(model) == [bn]
    x = np.random.default_rng(0).normal(loc=5.0, scale=2.0, size=(rows, 3)).astype("float32")
    order = np.random.default_rng(1).permutation(rows)
    precise = PreciseBatchNorm(model, batch_size)
    assert precise.rows_used(rows) == used
    momentum = bn.momentum
    precise.refresh(x, order)
    features = x[order[:used]].sum(axis=1)  # every unit of the dense layer (all-ones kernel, zero bias) sums the row
    np.testing.assert_allclose(np.asarray(bn.moving_mean), np.full(4, features.mean()), rtol=1e-4)
    np.testing.assert_allclose(np.asarray(bn.moving_variance), np.full(4, features.var()), rtol=1e-3)
    np.testing.assert_allclose(np.asarray(frozen.moving_mean), np.zeros(4))  # a frozen layer keeps its statistics
    np.testing.assert_allclose(np.asarray(frozen.moving_variance), np.ones(4))
    assert bn.momentum == momentum  # training goes on with the recipe's momentum


def test_precise_batch_norm_without_batch_norm_changes_nothing() -> None:
    import keras
    import numpy as np

    from kproto.training.callbacks import PreciseBatchNorm

    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    before = [np.asarray(w).copy() for w in model.get_weights()]
    PreciseBatchNorm(model, 8).refresh(np.ones((20, 3), "float32"), np.arange(20))
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=True))
