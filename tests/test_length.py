"""The training length a family picks for the data where the recipe leaves it open (kproto.training.length and the
feedforward rule kproto.models.feedforward.table_training_length); no model is fitted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kproto.core import catalog
from kproto.data.types import DataInfo
from kproto.models.feedforward import table_training_length
from kproto.recipe import load_recipe
from kproto.training.length import open_length


def test_small_tables_get_a_step_budget_and_a_patience_of_an_eighth() -> None:
    assert table_training_length(700, 32) == {"epochs": 200, "patience": 25}  # 22 steps an epoch: capped
    assert table_training_length(2000, 32) == {"epochs": 96, "patience": 12}  # 63 steps: 6,000 / 63 rounded up
    assert table_training_length(1, 32) == {"epochs": 200, "patience": 25}


def test_large_tables_keep_the_recipe_defaults() -> None:
    assert table_training_length(7000, 32) == {"epochs": 30, "patience": 5}
    assert table_training_length(1_000_000, 32) == {"epochs": 30, "patience": 5}
    assert table_training_length(2000, 256) == {"epochs": 200, "patience": 25}  # bigger batches: fewer steps


def test_epochs_the_recipe_sets_give_the_patience() -> None:
    assert table_training_length(700, 32, epochs=80) == {"epochs": 80, "patience": 10}
    assert table_training_length(700, 32, epochs=3) == {"epochs": 3, "patience": 5}


def info(kind: str = catalog.TABLE, train: int = 700, validation: int = 120) -> DataInfo:
    return DataInfo(task="regression", kind=kind, input_shape=(4,), rows={"train": train, "validation": validation})


def recipe(tmp_path: Path, model: dict | None = None, train: dict | None = None, sets: tuple[str, ...] = ()):
    (tmp_path / "t.csv").write_text("a,y\n1,2\n")
    raw = {"data": {"path": "t.csv", "target": "y"}, "model": model or {"type": "feedforward"}}
    if train is not None:
        raw["train"] = train
    (tmp_path / "r.yaml").write_text(json.dumps(raw))
    return load_recipe(tmp_path / "r.yaml", sets).recipe


def test_open_fields_are_filled_and_said(tmp_path: Path) -> None:
    resolved, fact = open_length(recipe(tmp_path), info())
    assert resolved.train.epochs == 200 and resolved.train.early_stopping.patience == 25
    assert fact == {
        "training length": "up to 200 epochs, early stopping after 25 epochs without improvement "
        "(chosen for 700 training rows)"
    }
    assert resolved.train.early_stopping.monitor == "val_loss" and resolved.train.early_stopping.restore_best


@pytest.mark.parametrize(
    ("train", "sets", "epochs", "patience"),
    [
        ({"epochs": 12}, (), 12, 5),
        ({"epochs": 120}, (), 120, 15),
        ({"early_stopping": {"patience": 3}}, (), 200, 3),
        ({"early_stopping": {"monitor": "val_mae"}}, (), 200, 25),
        (None, ("train.epochs=7",), 7, 5),
        ({"epochs": 30, "early_stopping": {"patience": 5}}, (), 30, 5),
    ],
)
def test_fields_the_recipe_sets_are_kept(tmp_path: Path, train, sets, epochs, patience) -> None:
    resolved, _ = open_length(recipe(tmp_path, train=train, sets=sets), info())
    assert (resolved.train.epochs, resolved.train.early_stopping.patience) == (epochs, patience)


def test_nothing_changes_without_early_stopping_validation_rows_or_a_table(tmp_path: Path) -> None:
    for case, data in [
        (recipe(tmp_path, train={"early_stopping": False}), info()),
        (recipe(tmp_path), info(validation=0)),
        (recipe(tmp_path), info(kind=catalog.IMAGE)),
        (recipe(tmp_path, model={"type": "cnn"}), info()),
        (recipe(tmp_path), info(train=7000)),  # a large table: the recipe defaults already
        (recipe(tmp_path, train={"epochs": 12}), info()),  # its patience is the default's
    ]:
        resolved, fact = open_length(case, data)
        assert resolved is case and fact == {}
        assert case.train.early_stopping is None or case.train.early_stopping.patience == 5


def test_the_trainer_applies_the_length_before_compiling(tmp_path: Path) -> None:
    from helpers import TINY_RECIPE, tiny_frame

    from kproto.training.loop import Trainer

    tiny_frame(150, 0).to_csv(tmp_path / "tiny.csv", index=False)
    (tmp_path / "tiny.yaml").write_text(TINY_RECIPE.format(seed=1))
    trainer = Trainer(load_recipe(tmp_path / "tiny.yaml").recipe, tmp_path / "runs")
    dataset, _, _, _ = trainer._prepare()  # data, model and compilation; nothing is fitted
    rows = dataset.info.rows["train"]
    assert (trainer.recipe.train.epochs, trainer.recipe.train.early_stopping.patience) == (200, 25)
    assert trainer.length_fact["training length"].endswith(f"(chosen for {rows:,} training rows)")
