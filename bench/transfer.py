"""Transfer learning against training from scratch, on the same 50 rows, in one run.

    python bench/transfer.py              # pretrain on digits 0-4, then seeds 42, 43, 44: fine-tune vs scratch
    python bench/transfer.py --seeds 42   # one seed (about a minute)

recipes/digits_pretrain_04.yaml trains a CNN on digits 0-4 (all rows). For each seed, recipes/digits_finetune_59.yaml
fine-tunes it on digits 5-9 from 10 training rows per class, and recipes/digits_scratch_59.yaml trains the same
architecture on the same rows from random weights (the seed decides the split and the 50 rows, so both see the
same data). Both are scored on the same test split of digits 5-9. The floor: fine-tuned test accuracy beats
scratch by at least 5 points. Results go to bench/results/transfer-<stamp>.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
RECIPES = ROOT / "recipes"
FLOOR_POINTS = 5.0


def train(recipe: str, out: Path, *settings: str) -> dict:
    """`kproto train` in a fresh process; the new run's metrics.json."""
    before = set(out.glob("*/*/metrics.json"))
    command = [sys.executable, "-m", "kproto", "train", str(RECIPES / recipe), "--out", str(out)]
    for setting in settings:
        command += ["--set", setting]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    began = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    (metrics_file,) = set(out.glob("*/*/metrics.json")) - before
    metrics = json.loads(metrics_file.read_text())
    metrics["wall_seconds"] = round(time.perf_counter() - began, 1)
    metrics["run"] = str(metrics_file.parent)
    return metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 43, 44])
    args = parser.parse_args()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch)
        source = train("digits_pretrain_04.yaml", out)
        print(f"pretrained on 0-4: test accuracy {source['test']['accuracy']:.4f} ({source['wall_seconds']} s)")
        rows = []
        for seed in args.seeds:
            tuned = train("digits_finetune_59.yaml", out, f"seed={seed}", f"model.source={out / 'digits-pretrain-04'}")
            plain = train("digits_scratch_59.yaml", out, f"seed={seed}")
            row = {
                "seed": seed,
                "train_rows": json.loads((Path(tuned["run"]) / "preprocess.json").read_text())["info"]["rows"]["train"],
                "fine_tuned": tuned["test"]["accuracy"],
                "scratch": plain["test"]["accuracy"],
                "fine_tuned_epochs": tuned["epochs"],
                "scratch_epochs": plain["epochs"],
                "fine_tuned_seconds": tuned["wall_seconds"],
                "scratch_seconds": plain["wall_seconds"],
                "pretrained": tuned.get("pretrained"),
            }
            rows.append(row)
            print(f"seed {seed}: fine-tuned {row['fine_tuned']:.4f}  scratch {row['scratch']:.4f}")
    tuned_mean = statistics.mean(r["fine_tuned"] for r in rows)
    plain_mean = statistics.mean(r["scratch"] for r in rows)
    gain = 100 * (tuned_mean - plain_mean)
    worst = min(100 * (r["fine_tuned"] - r["scratch"]) for r in rows)
    summary = {
        "stamp": stamp,
        "source_test_accuracy": source["test"]["accuracy"],
        "seeds": rows,
        "fine_tuned_mean": tuned_mean,
        "scratch_mean": plain_mean,
        "gain_points": round(gain, 2),
        "smallest_gain_points": round(worst, 2),
        "floor_points": FLOOR_POINTS,
        "passed": worst >= FLOOR_POINTS,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"transfer-{stamp}.json").write_text(json.dumps(summary, indent=2, default=str))
    lines = [
        "| seed | fine-tuned test accuracy | scratch test accuracy | gain (points) | epochs (fine-tuned / scratch) |",
        "|---|---:|---:|---:|---|",
        *(
            f"| {r['seed']} | {r['fine_tuned']:.4f} | {r['scratch']:.4f} | {100 * (r['fine_tuned'] - r['scratch']):+.1f} "
            f"| {r['fine_tuned_epochs']} / {r['scratch_epochs']} |"
            for r in rows
        ),
        f"| mean | **{tuned_mean:.4f}** | {plain_mean:.4f} | **{gain:+.1f}** | |",
    ]
    (RESULTS / f"transfer-{stamp}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"floor: every seed ≥ {FLOOR_POINTS:g} points: {'passed' if summary['passed'] else 'FAILED'}")
    sys.exit(0 if summary["passed"] else 1)


if __name__ == "__main__":
    main()
