"""A review's text alone against the text with two table columns beside it, on the same split and seed.

    python bench/inputs.py                 # 3 models, 6 epochs (a few minutes on 2 CPUs)
    python bench/inputs.py --epochs 3      # quicker

Data: data/reviews_plus.csv (reviews.csv's texts and labels with the simulated columns `reorders` and `channel`,
scripts/make_data.py). Each run is `kproto train` on recipes/reviews_several_inputs.yaml with its data and model
sections changed as below, so the split, the seed, the vocabulary and the sequence length are the same:
- lstm, text only: `data.text: review`, no other column (the single-input model);
- lstm, text + columns: the recipe as shipped (the LSTM text encoder beside a tabular tower);
- feedforward, text + columns: the text read by an embedding bag, the same columns.
Prints a Markdown table of the test split's accuracy and AUC for BENCHMARKS.md, with the scikit-learn baselines
training fitted beside the two LSTM runs (tf-idf + logistic regression on the text; logistic regression on word
counts beside the columns).
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
CASES = {  # name: (data changes, the model section or None for the recipe's own)
    "lstm, text only": ({"text": "review", "features": None}, "text only"),
    "lstm, text + reorders + channel": ({}, None),
    "feedforward (embedding bag), text + reorders + channel": ({}, FEEDFORWARD),
}


def train(name: str, data: dict, model: dict | str | None, epochs: int, folder: Path) -> dict:
    """The metrics of one `kproto train` run of the shipped recipe with its data and model sections changed."""
    recipe = yaml.safe_load(RECIPE.read_text())
    recipe["data"].update(data)
    recipe["data"] = {k: v for k, v in recipe["data"].items() if v is not None}
    recipe["data"]["path"] = str(ROOT / "data" / "reviews_plus.csv")
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
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for name, (data, model) in CASES.items():
            metrics = train(name, data, model, args.epochs, Path(scratch))
            test = metrics["test"]
            rows.append((name, test.get("accuracy", float("nan")), test.get("auc", float("nan"))))
            print(f"{name}: test accuracy {rows[-1][1]:.4f} auc {rows[-1][2]:.4f}", flush=True)
            for baseline, scores in metrics.get("baselines", {}).items():  # scikit-learn, same training rows
                if baseline != "majority" and name.startswith("lstm"):
                    what = "text only" if "only" in name else "text + reorders + channel"
                    rows.append((f"scikit-learn {baseline}, {what}", scores.get("accuracy"), scores.get("auc")))
            majority = metrics.get("baselines", {}).get("majority", {}).get("accuracy")
    print()
    print(f"data/reviews_plus.csv, seed 42, test split (600 rows), {args.epochs} epochs at most (early stopping)")
    print()
    print("| model | inputs | test accuracy | test AUC |")
    print("|---|---|---:|---:|")
    for name, accuracy, auc in rows:
        family, inputs = name.split(", ", 1)
        shown = [f"{v:.4f}" if isinstance(v, float) else "" for v in (accuracy, auc)]
        print(f"| {family} | {inputs} | {shown[0]} | {shown[1]} |")
    if majority is not None:
        print(f"| majority class | — | {majority:.4f} | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
