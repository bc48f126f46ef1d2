"""kproto.training.controls: improved (early stopping's comparison), monitored, the plateau rule, the stop flag and
the signal handlers, without training."""

from __future__ import annotations

import os
import signal
import threading
from types import SimpleNamespace

import pytest

from kproto.recipe.schema import EarlyStopping, Train
from kproto.training.checkpoint import Checkpoint
from kproto.training.controls import Plateau, StopFlag, improved, monitored, stop_on_signals


# ----------------------------------------------------------------------------- improved
@pytest.mark.parametrize(
    ("monitor", "value", "best", "min_delta", "expected"),
    [
        ("val_loss", 0.5, None, 0.0, True),  # the first epoch always improves
        ("val_accuracy", 0.1, None, 0.0, True),
        ("val_loss", 0.4, 0.5, 0.0, True),
        ("val_loss", 0.5, 0.5, 0.0, False),  # equal is no improvement
        ("val_loss", 0.6, 0.5, 0.0, False),
        ("val_loss", 0.45, 0.5, 0.1, False),  # better, but by less than min_delta
        ("val_loss", 0.35, 0.5, 0.1, True),
        ("val_accuracy", 0.6, 0.5, 0.0, True),
        ("val_accuracy", 0.4, 0.5, 0.0, False),
        ("val_accuracy", 0.55, 0.5, 0.1, False),
        ("val_accuracy", 0.65, 0.5, 0.1, True),
        ("loss", 0.1, 0.2, 0.0, True),
        ("g_loss", 0.3, 0.2, 0.0, False),
        ("val_poisson", 0.1, 0.2, 0.0, True),
        ("val_cosine_similarity", 0.9, 0.8, 0.0, True),
        ("val_cosine_similarity", 0.7, 0.8, 0.0, False),
        ("val_log_cosh", 0.1, 0.2, 0.0, True),
        ("val_kl", 0.3, 0.2, 0.0, False),
        ("val_msle", 0.1, 0.2, 0.0, True),
        ("val_mean_iou", 0.6, 0.5, 0.0, True),
        ("val_prc", 0.4, 0.5, 0.0, False),
    ],
)
def test_improved(monitor: str, value: float, best: float | None, min_delta: float, expected: bool) -> None:
    assert improved(monitor, value, best, min_delta) is expected


# ----------------------------------------------------------------------------- monitored
def recipe(early_stopping: object = "default") -> SimpleNamespace:
    train = Train() if early_stopping == "default" else Train(early_stopping=early_stopping)
    return SimpleNamespace(train=train)


def test_monitored_with_validation_follows_early_stopping() -> None:
    stopping, monitor = monitored(recipe({"monitor": "val_accuracy", "patience": 2}), True, own_engine=False)
    assert isinstance(stopping, EarlyStopping) and stopping.patience == 2
    assert monitor == "val_accuracy"
    stopping, monitor = monitored(recipe(), True, own_engine=False)
    assert stopping is not None and monitor == "val_loss"  # the default settings


def test_monitored_without_early_stopping_picks_the_best_epoch_by_val_loss() -> None:
    assert monitored(recipe(False), True, own_engine=False) == (None, "val_loss")


def test_monitored_without_a_validation_split_reads_the_training_loss() -> None:
    stopping, monitor = monitored(recipe({"monitor": "val_accuracy"}), False, own_engine=False)
    assert monitor == "loss" and stopping is not None
    assert monitored(recipe(False), False, own_engine=False) == (None, "loss")


def test_a_family_with_its_own_engine_has_no_early_stopping() -> None:
    assert monitored(recipe({"monitor": "val_accuracy"}), True, own_engine=True) == (None, "g_loss")


# ----------------------------------------------------------------------------- Plateau
def run_plateau(plateau: Plateau, values: list[float], rate: float = 1.0, key: str = "val_loss") -> list[float]:
    """The rate after each epoch whose `key` is the next of `values`."""
    state = Checkpoint()
    rates = []
    for value in values:
        cut = plateau.step({key: value, "loss": 9.0}, state, rate)
        rate = rate if cut is None else cut
        rates.append(rate)
    return rates


def test_plateau_cuts_after_patience_epochs_without_improvement() -> None:
    plateau = Plateau(monitor="val_loss", patience=2, factor=0.5, min_lr=0.0)
    assert run_plateau(plateau, [1.0, 0.9, 0.9, 0.9, 0.9, 0.9, 0.8]) == [1.0, 1.0, 1.0, 0.5, 0.5, 0.25, 0.25]


def test_plateau_with_patience_one_cuts_every_flat_epoch_down_to_min_lr() -> None:
    plateau = Plateau(monitor="val_accuracy", patience=1, factor=0.5, min_lr=0.2)
    assert run_plateau(plateau, [0.5] * 5, key="val_accuracy") == [1.0, 0.5, 0.25, 0.2, 0.2]


def test_plateau_reads_the_direction_of_its_monitor() -> None:
    plateau = Plateau(monitor="val_accuracy", patience=1, factor=0.1, min_lr=0.0)
    assert run_plateau(plateau, [0.5, 0.6, 0.7], key="val_accuracy") == [1.0, 1.0, 1.0]  # rising accuracy improves
    assert run_plateau(plateau, [0.7, 0.6], key="val_accuracy") == pytest.approx([1.0, 0.1])


def test_plateau_falls_back_to_the_training_loss() -> None:
    """Without the monitored value in the row (no validation split) the training loss decides."""
    plateau = Plateau(monitor="val_loss", patience=1, factor=0.5, min_lr=0.0)
    state = Checkpoint()
    assert plateau.step({"loss": 1.0}, state, 1.0) is None
    assert state.plateau_best == 1.0
    assert plateau.step({"loss": 1.0}, state, 1.0) == 0.5
    assert state.plateau_wait == 0


# ----------------------------------------------------------------------------- StopFlag and signals
def test_stop_flag_is_false_until_a_signal_names_it() -> None:
    flag = StopFlag()
    assert flag() is False
    flag.signal_name = "SIGTERM"
    assert flag() is True


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_sets_the_flag_and_the_old_handler_comes_back(sig: signal.Signals) -> None:
    before = signal.getsignal(sig)
    flag = StopFlag()
    with stop_on_signals(flag):
        os.kill(os.getpid(), sig)
        assert flag() and flag.signal_name == sig.name
    assert signal.getsignal(sig) is before


def test_a_second_ctrl_c_stops_at_once() -> None:
    before = signal.getsignal(signal.SIGINT)
    flag = StopFlag()
    with pytest.raises(KeyboardInterrupt), stop_on_signals(flag):
        os.kill(os.getpid(), signal.SIGINT)
        assert flag.signal_name == "SIGINT"
        os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is before


def test_stop_on_signals_outside_the_main_thread_changes_nothing() -> None:
    errors: list[BaseException] = []
    before = signal.getsignal(signal.SIGTERM)

    def body() -> None:
        try:
            with stop_on_signals(StopFlag()):
                assert signal.getsignal(signal.SIGTERM) is before
        except BaseException as exc:  # noqa: BLE001 - reported to the main thread
            errors.append(exc)

    thread = threading.Thread(target=body)
    thread.start()
    thread.join()
    assert errors == []
