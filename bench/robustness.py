"""Robustness and explanation floors of issue 13, measured through the CLI in fresh processes.

    python bench/robustness.py           # digits CNN plain vs adversarially trained, PGD at epsilon 0.1; explain timings
    python bench/robustness.py --quick   # fewer epochs (a smoke run; the floors are not expected to hold)

Floors: the adversarially trained recipe's accuracy under PGD (epsilon 0.1 on [0, 1] pixels) is at least 15 points
above the plain recipe's, with clean test accuracy >= 0.95; `kproto explain` on the shipped tabular and image recipes
takes under 30 s each (the whole command: process start, imports, model load, data, computation, files).
Raw results go to bench/results/robustness-<stamp>.json with a Markdown summary beside them.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES", "-1")}
ENV.pop("KERAS_BACKEND", None)
ENV["PYTHONPATH"] = str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")
EPSILON = 0.1
PGD_STEPS = 20
ATTACK_FLOOR_POINTS = 15.0
CLEAN_FLOOR = 0.95
EXPLAIN_SECONDS = 30.0
PAIRS = {"plain": "recipes/digits_cnn.yaml", "adversarial": "recipes/digits_cnn_adversarial.yaml"}
EXPLAINED = {"tabular": "recipes/credit_minimal.yaml", "image": "recipes/digits_cnn.yaml"}


def kproto(*args: str, timeout: float = 3600) -> tuple[float, str]:
    """Run `kproto ARGS` in a fresh process; (wall seconds, stdout). A failure stops the benchmark."""
    began = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "kproto", *args], cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=timeout
    )
    wall = time.perf_counter() - began
    if result.returncode != 0:
        raise SystemExit(f"kproto {' '.join(args)} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return wall, result.stdout


def train(recipe: str, out: Path, overrides: list[str]) -> tuple[Path, float]:
    sets = [item for value in overrides for item in ("--set", value)]
    seconds, _ = kproto("train", recipe, "--out", str(out), *sets)
    runs = sorted(p for p in out.glob("*/*") if (p / "model.keras").exists())
    return runs[-1], seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="3 epochs per recipe (smoke run)")
    args = parser.parse_args()
    overrides = ["train.epochs=3"] if args.quick else []
    results: dict = {"epsilon": EPSILON, "pgd_steps": PGD_STEPS, "quick": args.quick, "recipes": {}, "explain": {}}
    with tempfile.TemporaryDirectory(prefix="kproto-robustness-") as scratch:
        out = Path(scratch)
        for label, recipe in PAIRS.items():
            run, train_seconds = train(recipe, out / label, overrides)
            _, text = kproto(
                "evaluate", str(run), "--attack", "pgd", "--epsilon", str(EPSILON), "--steps", str(PGD_STEPS), "--json"
            )
            attack = json.loads(text)["attack"]
            results["recipes"][label] = {
                "recipe": recipe,
                "train_seconds": round(train_seconds, 1),
                "clean_accuracy": attack["clean"]["accuracy"],
                "attacked_accuracy": attack["adversarial"]["accuracy"],
            }
            print(label, results["recipes"][label], flush=True)
        for kind, recipe in EXPLAINED.items():
            run = out / "plain" if recipe == PAIRS["plain"] else None
            if run is None:
                run, _ = train(recipe, out / kind, overrides)
            else:
                run = sorted(p for p in run.glob("*/*") if (p / "model.keras").exists())[-1]
            seconds, text = kproto("explain", str(run), "--json")
            explained = json.loads(text)
            results["explain"][kind] = {
                "recipe": recipe,
                "seconds": round(seconds, 1),
                "method": explained["method"],
                "top": [row["feature"] for row in explained["global"][:3]],
            }
            print(kind, results["explain"][kind], flush=True)
    plain, adversarial = results["recipes"]["plain"], results["recipes"]["adversarial"]
    gain = 100 * (adversarial["attacked_accuracy"] - plain["attacked_accuracy"])
    results["floors"] = {
        "attack_gain_points": round(gain, 1),
        "attack_gain_ok": gain >= ATTACK_FLOOR_POINTS,
        "clean_ok": adversarial["clean_accuracy"] >= CLEAN_FLOOR,
        "explain_ok": all(e["seconds"] < EXPLAIN_SECONDS for e in results["explain"].values()),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (RESULTS / f"robustness-{stamp}.json").write_text(json.dumps(results, indent=2) + "\n")
    lines = [
        f"PGD, epsilon {EPSILON} on [0, 1] pixels, {PGD_STEPS} steps, digits test split:",
        "",
        "| recipe | clean accuracy | accuracy under PGD | train s |",
        "|---|---:|---:|---:|",
    ]
    for row in results["recipes"].values():
        lines.append(
            f"| {Path(row['recipe']).stem} | {row['clean_accuracy']:.4f} | {row['attacked_accuracy']:.4f} | "
            f"{row['train_seconds']} |"
        )
    lines += ["", "| explained recipe | method | whole command s | top features |", "|---|---|---:|---|"]
    for row in results["explain"].values():
        lines.append(f"| {Path(row['recipe']).stem} | {row['method']} | {row['seconds']} | {', '.join(row['top'])} |")
    lines += ["", f"Floors: {json.dumps(results['floors'])}"]
    (RESULTS / f"robustness-{stamp}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
