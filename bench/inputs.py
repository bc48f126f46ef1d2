"""A text alone against the text with table columns beside it, on the same split and seed.

    python bench/inputs.py                 # 3 models, 6 epochs (a few minutes on 2 CPUs)
    python bench/inputs.py --epochs 3      # quicker
    python bench/inputs.py --recipe recipes/tweets_several_inputs.yaml   # real columns: 4 models, both families

Data: data/reviews_plus.csv (reviews.csv's texts and labels with the simulated columns `reorders` and `channel`,
scripts/make_data.py). Each run is `kproto train` on recipes/reviews_several_inputs.yaml with its data and model
sections changed as below, so the split, the seed, the vocabulary and the sequence length are the same:
- lstm, text only: `data.text: review`, no other column (the single-input model);
- lstm, text + columns: the recipe as shipped (the LSTM text encoder beside a tabular tower);
- feedforward, text + columns: the text read by an embedding bag, the same columns.
Prints a Markdown table of the test split's accuracy and AUC for BENCHMARKS.md, with the scikit-learn baselines
training fitted beside the two LSTM runs (tf-idf + logistic regression on the text; logistic regression on word
counts beside the columns).

With `--recipe`, the same comparison for another recipe whose `data.features` start with its text column: the recipe's
family and the other one of `lstm` and `feedforward` (embedding bag), each on the text alone and on the text with the
other columns, and the scikit-learn baselines of the recipe family's two runs. The validation split's accuracy is printed beside the test
scores, so that a family can be chosen on it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
RECIPE = ROOT / "recipes" / "reviews_several_inputs.yaml"
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "-1"}
ENV["PYTHONPATH"] = str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")
FEEDFORWARD = {"type": "feedforward", "units": [32], "dropout": 0.3}
LSTM = {"type": "lstm", "embedding_dim": 32, "units": [32], "bidirectional": True, "dropout": 0.3}


def cases(recipe: dict, shipped: bool) -> dict[str, tuple[dict, dict | str | None]]:
    """The runs to compare, name: (data changes, the model section, "text only", or None for the recipe's own).

    The shipped reviews recipe keeps its three runs; another recipe gets its own family and the other one of lstm
    and feedforward (with the recipe's `inputs` and `combine`), each on the text alone and with the columns."""
    text, *columns = recipe["data"]["features"]
    own = label(recipe["model"]["type"])
    both = "text + " + " + ".join(columns)
    alone = {"text": text, "features": None, "columns": None}
    if shipped:
        return {
            f"{own}, text only": (alone, "text only"),
            f"{own}, {both}": ({}, None),
            f"{label('feedforward')}, {both}": ({}, FEEDFORWARD),
        }
    other = LSTM if recipe["model"]["type"] == "feedforward" else FEEDFORWARD
    shared = {k: v for k, v in recipe["model"].items() if k in ("inputs", "combine")}
    return {
        f"{own}, text only": (alone, "text only"),
        f"{own}, {both}": ({}, None),
        f"{label(other['type'])}, text only": (alone, other),
        f"{label(other['type'])}, {both}": ({}, {**other, **shared}),
    }


def label(family: str) -> str:
    """A family's name in the table."""
    return "feedforward (embedding bag)" if family == "feedforward" else family


def train(source: Path, name: str, data: dict, model: dict | str | None, epochs: int, folder: Path) -> dict:
    """The metrics of one `kproto train` run of the recipe at `source` with its data and model sections changed."""
    recipe = yaml.safe_load(source.read_text())
    recipe["data"].update(data)
    recipe["data"] = {k: v for k, v in recipe["data"].items() if v is not None}
    recipe["data"]["path"] = str((source.parent / recipe["data"]["path"]).resolve())
    if model == "text only":
        recipe["model"] = {k: v for k, v in recipe["model"].items() if k not in ("inputs", "combine")}
    elif isinstance(model, dict):
        recipe["model"] = model
    recipe["train"]["epochs"] = epochs
    recipe["train"]["metrics"] = ["accuracy", "auc"]
    path = folder / f"case{len(list(folder.glob('*.yaml')))}.yaml"
    path.write_text(yaml.safe_dump(recipe))
    out = folder / path.stem
    proc = subprocess.run(
        [sys.executable, "-m", "kproto", "train", str(path), "--out", str(out), "--backend", "tensorflow"],
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
    )
    if proc.returncode:
        raise SystemExit(f"{name} failed:\n{proc.stdout[-3000:]}{proc.stderr[-2000:]}")
    (metrics_path,) = out.glob("*/*/metrics.json")
    return json.loads(metrics_path.read_text())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--recipe", type=Path, default=RECIPE, help="a recipe whose data.features start with text")
    args = parser.parse_args()
    source = args.recipe.resolve()
    recipe = yaml.safe_load(source.read_text())
    family, data_path = recipe["model"]["type"], (source.parent / recipe["data"]["path"]).resolve()
    rows, majority, test_rows, seen = [], None, None, set()
    shipped = source == RECIPE.resolve()
    with tempfile.TemporaryDirectory() as scratch:
        for name, (data, model) in cases(recipe, shipped).items():
            metrics = train(source, name, data, model, args.epochs, Path(scratch))
            test, validation = metrics["test"], metrics.get("validation", {})
            nan = float("nan")
            row = (name, validation.get("accuracy", nan), test.get("accuracy", nan), test.get("auc", nan))
            rows.append(row)
            print(f"{name}: validation accuracy {row[1]:.4f}, test accuracy {row[2]:.4f} auc {row[3]:.4f}", flush=True)
            # scikit-learn, same training rows: the recipe family's runs (for the reviews table), or every run's once
            for baseline, scores in metrics.get("baselines", {}).items():
                what = name.split(", ", 1)[1]
                if baseline == "majority" or (baseline, what) in seen or (shipped and not name.startswith(family)):
                    continue
                seen.add((baseline, what))
                rows.append((f"scikit-learn {baseline}, {what}", None, scores.get("accuracy"), scores.get("auc")))
            majority = metrics.get("baselines", {}).get("majority", {}).get("accuracy", majority)
            test_rows = metrics.get("baselines_info", {}).get("rows", test_rows)
    print()
    test_rows = f" ({test_rows} rows)" if test_rows else ""
    where = data_path.relative_to(ROOT) if data_path.is_relative_to(ROOT) else data_path
    print(f"{where}, seed {recipe.get('seed')}, test split{test_rows}, {args.epochs} epochs at most (early stopping)")
    print()
    print("| model | inputs | validation accuracy | test accuracy | test AUC |")
    print("|---|---|---:|---:|---:|")
    for name, *scores in rows:
        model, inputs = name.split(", ", 1)
        shown = [f"{v:.4f}" if isinstance(v, float) else "" for v in scores]
        print(f"| {model} | {inputs} | {shown[0]} | {shown[1]} | {shown[2]} |")
    if majority is not None:
        print(f"| majority class | — | | {majority:.4f} | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
