"""Training time of the default feedforward recipe on a 10,000-row table: today's defaults against the previous
ones (no numeric embedding, no ensemble, standard scaling), same data, same epochs, alternating runs.

    python bench/tabular_time.py              # 2 runs of each, 10 epochs without early stopping
    python bench/tabular_time.py --runs 3 --epochs 30

The table: 8 numeric columns (two of them skewed), 2 categorical ones (4 and 30 values) and a two-class label
that depends on them non-linearly; kproto trains in-process through its Python API (train.baselines: none, so only
the model's own training is timed). Prints the median seconds of each and their ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np
import pandas as pd

PREVIOUS = {"model": {"numeric_embedding": "none", "ensemble": 1}, "data": {"scaling": "standard"}}


def table(rows: int = 10_000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 8))
    x[:, 0], x[:, 1] = np.exp(x[:, 0]), rng.exponential(3.0, rows)  # skewed
    small, large = rng.choice(list("abcd"), rows), rng.choice([f"c{i}" for i in range(30)], rows)
    logit = np.sin(2 * x[:, 2]) + x[:, 3] * x[:, 4] + np.log1p(x[:, 0]) - 0.3 * x[:, 1] + (small == "a")
    frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(8)]).assign(small=small, large=large)
    return frame.assign(label=np.where(logit + rng.logistic(size=rows) * 0.5 > 0.5, "yes", "no"))


def seconds(path: Path, epochs: int, variant: dict) -> float:
    import keras

    from kproto.recipe import load_recipe
    from kproto.training import train

    raw = {
        "name": "speed",
        "data": {"path": str(path), "target": "label", **variant.get("data", {})},
        "model": {"type": "feedforward", **variant.get("model", {})},
        "train": {"epochs": epochs, "early_stopping": None, "baselines": "none"},
    }
    keras.backend.clear_session()
    with tempfile.TemporaryDirectory(prefix="kproto-speed-") as folder:
        (Path(folder) / "recipe.yaml").write_text(json.dumps(raw))
        recipe = load_recipe(Path(folder) / "recipe.yaml").recipe
        began = time.perf_counter()
        train(recipe, Path(folder) / "runs")
        return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kproto-speed-data-") as folder:
        path = Path(folder) / "table.csv"
        table().to_csv(path, index=False)
        seconds(path, 1, {})  # warm up: imports and the first compilation
        times: dict[str, list[float]] = {"previous defaults": [], "defaults": []}
        for _ in range(args.runs):
            times["previous defaults"].append(seconds(path, args.epochs, PREVIOUS))
            times["defaults"].append(seconds(path, args.epochs, {}))
    medians = {name: statistics.median(values) for name, values in times.items()}
    for name, values in times.items():
        print(f"{name}: median {medians[name]:.1f} s over {len(values)} runs ({', '.join(f'{v:.1f}' for v in values)})")
    print(f"ratio defaults / previous: {medians['defaults'] / medians['previous defaults']:.2f}")


if __name__ == "__main__":
    main()
