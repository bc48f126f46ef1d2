"""Held-out scores with the default feedforward recipe, with the data audit off (what kproto did before it) and on.

    python bench/audit_effect.py              # 3 tables x audit off/on x 3 seeds, 10 epochs (about 5 minutes on 2 CPUs)
    python bench/audit_effect.py --seeds 1    # quicker

The tables come from scripts/make_audit_data.py: titanic.csv (passenger names: an identifier), smarket.csv (a row
counter, and a leak: the day's own return) and chicago.csv (an ISO date). Each run is `kproto train` on a recipe of
only `data.path`, `data.target` and `model.type: feedforward`, with train.epochs lowered for this CPU; the score is
the test split's (accuracy for classifiers, MAE for regression). Prints a Markdown table for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TABLES = {"titanic.csv": "survived", "smarket.csv": "Direction", "chicago.csv": "ridership"}
# What a warning advises, run as a third configuration: the leak suspect dropped with data.columns.
ADVICE = {"smarket.csv": "{Today: drop}"}
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "-1"}
ENV["PYTHONPATH"] = str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")


def score(
    data: str, target: str, audit: bool, seed: int, epochs: int, folder: Path, columns: str | None = None
) -> tuple[str, float, dict]:
    """(metric name, test score, the run's metrics) of one training run (`columns`: a data.columns mapping)."""
    label = "advice" if columns else ("on" if audit else "off")
    recipe = folder / f"{Path(data).stem}-{label}-{seed}.yaml"
    recipe.write_text(
        f"name: {recipe.stem}\nseed: {seed}\ndata:\n  path: {ROOT / 'data' / data}\n  target: {target}\n"
        f"  audit: {'on' if audit else 'off'}\n"
        + (f"  columns: {columns}\n" if columns else "")
        + f"model:\n  type: feedforward\ntrain:\n  epochs: {epochs}\n"
    )
    out = folder / "runs"
    proc = subprocess.run(
        [sys.executable, "-m", "kproto", "train", str(recipe), "--out", str(out), "--backend", "tensorflow"],
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
    )
    if proc.returncode:
        raise SystemExit(f"{recipe.name} failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    (metrics_path,) = (out / recipe.stem).glob("*/metrics.json")
    metrics = json.loads(metrics_path.read_text())
    test = metrics["test"]
    name = "accuracy" if "accuracy" in test else "mae"
    return name, float(test[name]), metrics


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for data, target in TABLES.items():
            scores: dict[bool, list[float]] = {False: [], True: []}
            inputs: dict[bool, int] = {}
            for audit in (False, True):
                for seed in range(args.seeds):
                    name, value, metrics = score(data, target, audit, seed, args.epochs, Path(scratch))
                    scores[audit].append(value)
                    inputs[audit] = metrics.get("parameters", 0)
                    print(f"{data} audit {'on' if audit else 'off'} seed {seed}: test {name} {value:.4f}", flush=True)
            advice = []
            for seed in range(args.seeds) if data in ADVICE else ():
                advice.append(score(data, target, True, seed, args.epochs, Path(scratch), ADVICE[data])[1])
                print(f"{data} with {ADVICE[data]} seed {seed}: test {name} {advice[-1]:.4f}", flush=True)
            rows.append((data, target, name, scores, inputs, advice))
    print(
        "\n| table | target | test metric | audit off (before) | audit on (after) | parameters off → on | advice taken |"
    )
    print("|---|---|---|---:|---:|---:|---|")
    for data, target, name, scores, inputs, advice in rows:
        cells = [f"{statistics.mean(v):.3f} ± {statistics.pstdev(v):.3f}" for v in (scores[False], scores[True])]
        taken = f"{ADVICE[data]}: {statistics.mean(advice):.3f} ± {statistics.pstdev(advice):.3f}" if advice else ""
        print(
            f"| {data} | {target} | {name} | {cells[0]} | {cells[1]} | {inputs[False]:,} → {inputs[True]:,} | {taken} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
