"""One model for two targets against one model per target, on the same split.

    python bench/targets.py                                   # recipes/default_two_targets.yaml, seed 42
    python bench/targets.py --epochs 5 --seeds 42 43

The two-target recipe is trained as it is; each single-target model is its recipe for one target
(kproto.recipe.targets.for_target: that target's loss, metrics and threshold) trained on exactly the rows of the
two-target run's splits (the data is loaded once, as the two-target run loads it, and each target's view is handed
to the trainer), so every test score below is measured on the same test rows. Prints a Markdown table and writes
bench/results/targets-<stamp>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")

SHOWN = {"classification": ("accuracy", "auc", "pr_auc", "f1"), "regression": ("mae", "rmse", "r2")}


def _train(recipe: Any, out: Path, dataset: Any = None) -> tuple[dict[str, Any], float, int]:
    """Train `recipe` (on `dataset` when given, instead of reading its data again): metrics, seconds, parameters."""
    from kproto.report.tables import Reporter
    from kproto.training import loop

    original = loop.load_dataset
    if dataset is not None:
        loop.load_dataset = lambda *args, **kwargs: dataset
    try:
        began = time.perf_counter()
        result = loop.train(recipe, out, Reporter())
        seconds = time.perf_counter() - began
    finally:
        loop.load_dataset = original
    return result.metrics, seconds, int(result.metrics.get("parameters", 0))


def _scores(split: dict[str, Any], report: dict[str, Any], task: str) -> dict[str, float]:
    merged = {**report, **split}
    return {name: float(merged[name]) for name in SHOWN[task] if name in merged}


def run(recipe_path: Path, seeds: list[int], epochs: int | None) -> dict[str, Any]:
    from kproto.cli.common import setup_backend

    setup_backend("tensorflow", "cpu")
    from kproto.data.loading import load_dataset
    from kproto.data.targets import names_of, target_dataset
    from kproto.recipe import load_recipe
    from kproto.recipe.targets import for_target

    rows = []
    for seed in seeds:
        recipe = load_recipe(recipe_path).recipe
        recipe.seed = seed
        if epochs is not None:
            recipe.train.epochs = epochs
        with tempfile.TemporaryDirectory() as folder:
            metrics, seconds, parameters = _train(recipe, Path(folder) / "two")
            dataset = load_dataset(recipe)
            for name in names_of(dataset.info):
                block = metrics["targets"][name]
                task = block["task"]
                two = _scores(metrics["test"][name], block.get("report", {}), task)
                one_recipe = for_target(recipe, name)
                one_metrics, one_seconds, one_parameters = _train(
                    one_recipe, Path(folder) / name, target_dataset(dataset, name)
                )
                one = _scores(one_metrics["test"], one_metrics.get("report", {}), task)
                rows.append(
                    {
                        "seed": seed,
                        "target": name,
                        "task": task,
                        "two_targets": two,
                        "single_target": one,
                        "two_targets_epochs": metrics["epochs"],
                        "single_target_epochs": one_metrics["epochs"],
                        "two_targets_seconds": round(seconds, 1),
                        "single_target_seconds": round(one_seconds, 1),
                        "two_targets_parameters": parameters,
                        "single_target_parameters": one_parameters,
                        "test_rows": dataset.info.rows.get("test", 0),
                    }
                )
    return {"recipe": str(recipe_path.relative_to(ROOT)), "machine": platform.platform(), "rows": rows}


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "| seed | target | metric | one model, two targets | one model per target |",
        "|---:|---|---|---:|---:|",
    ]
    for row in result["rows"]:
        for metric, value in row["two_targets"].items():
            single = row["single_target"].get(metric, float("nan"))
            lines.append(f"| {row['seed']} | {row['target']} | {metric} | {value:.4f} | {single:.4f} |")
    lines.append("")
    lines.append("| seed | model | parameters | epochs | seconds |")
    lines.append("|---:|---|---:|---:|---:|")
    seen = set()
    for row in result["rows"]:
        if row["seed"] not in seen:
            seen.add(row["seed"])
            lines.append(
                f"| {row['seed']} | two targets | {row['two_targets_parameters']} | {row['two_targets_epochs']} | "
                f"{row['two_targets_seconds']} |"
            )
        lines.append(
            f"| {row['seed']} | {row['target']} alone | {row['single_target_parameters']} | "
            f"{row['single_target_epochs']} | {row['single_target_seconds']} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", type=Path, default=ROOT / "recipes" / "default_two_targets.yaml")
    parser.add_argument("--seeds", type=int, nargs="+", default=[42])
    parser.add_argument("--epochs", type=int, default=None, help="override train.epochs")
    args = parser.parse_args()
    result = run(args.recipe.resolve(), args.seeds, args.epochs)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (RESULTS / f"targets-{stamp}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
