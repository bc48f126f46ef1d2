"""Run folders written by hand (recipe.yaml, metrics.json, history.csv) for tests that read runs without training."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import yaml

from kproto.runs import layout

# Twelve YAML aliases deep, nine wide: 9**12 values once expanded; a plain yaml.safe_load never finishes.
ALIAS_BOMB = (
    "\n".join(
        ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
        + [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 13)]
    )
    + "\n"
)


def tiny_recipe(name: str, units: list[int], learning_rate: float) -> dict[str, Any]:
    """A resolved recipe like the ones `kproto train` writes, with the fields the tests tell runs apart by."""
    return {
        "name": name,
        "seed": 7,
        "data": {"path": "/data/tiny.csv", "target": "label", "split": {"validation": 0.15, "test": 0.15}},
        "model": {"type": "feedforward", "units": units, "dropout": 0.0},
        "train": {"optimizer": {"name": "adam", "learning_rate": learning_rate}, "epochs": 2, "batch_size": 16},
    }


def write_run(
    root: Path,
    name: str,
    stamp: str,
    *,
    recipe: dict[str, Any] | str | None,
    metrics: dict[str, Any] | None,
    history: list[dict[str, Any]] | None = None,
) -> Path:
    """`root/name/stamp/` with the given recipe (a mapping, or raw text), metrics and history; None leaves a file out."""
    folder = Path(root) / name / stamp
    folder.mkdir(parents=True)
    if recipe is not None:
        text = recipe if isinstance(recipe, str) else yaml.safe_dump(recipe, sort_keys=False)
        (folder / layout.RECIPE).write_text(text)
    if metrics is not None:
        (folder / layout.METRICS).write_text(json.dumps(metrics, indent=2))
    if history:
        with (folder / layout.HISTORY).open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(history[0]))
            writer.writeheader()
            writer.writerows(history)
    return folder


def finished_metrics(validation: dict[str, float], test: dict[str, float], epochs: int = 2) -> dict[str, Any]:
    """metrics.json of a completed run."""
    return {
        "status": "completed",
        "started": "",
        "epochs": epochs,
        "best_epoch": epochs,
        "seconds": 1.5,
        "train": {key: value for key, value in validation.items()},
        "validation": validation,
        "test": test,
    }


def history_rows(val_losses: list[float]) -> list[dict[str, Any]]:
    """history.csv rows with a falling training loss beside the given validation losses."""
    return [
        {"epoch": epoch, "loss": 1.0 / epoch, "accuracy": 0.5, "val_loss": value, "val_accuracy": 0.5}
        for epoch, value in enumerate(val_losses, start=1)
    ]
