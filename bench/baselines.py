"""What the baselines add to `kproto train`, and every shipped recipe's verdict.

    python bench/baselines.py                                   # every shipped recipe, with the epochs below
    python bench/baselines.py --recipes credit_minimal --overhead 3   # the overhead, 3 runs with and without

For each recipe, `kproto train` runs once with the default `train.baselines: auto`; metrics.json gives the verdict
and `baselines_info.total_seconds` (the time the baselines took inside the command, scikit-learn's import
included). With --overhead N the recipe also runs N times with and N times without baselines (alternating), and
the whole commands' median wall times are compared. Writes bench/results/baselines-<stamp>.json and .md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# Recipes whose full run takes many CPU minutes run fewer epochs here (the table says so).
EPOCHS = {
    "digits_mobilenet": 3,
    "digits_finetune_59": 4,
    "digits_pretrain_04": 4,
    "digits_scratch_59": 4,
    "digits_cnn_adversarial": 3,
    "digits_gan": 5,
    "reviews_bert": 2,
    "pronunciations_seq2seq": 2,
    "spellings_seq2seq": 2,
    "movielens_mf": 5,
    "movielens_ranking": 3,
}
SHARE = 0.10  # the floor: baselines add less than this share of the whole command


# digits_finetune_59 fine-tunes the run digits_pretrain_04 makes: that one runs first, and its run is the source.
SOURCE_OF = {"digits_finetune_59": ("digits_pretrain_04", "digits-pretrain-04")}


def shipped() -> list[str]:
    names = sorted(p.stem for p in (ROOT / "recipes").glob("*.yaml") if p.stem != "base")
    return sorted(names, key=lambda name: name in SOURCE_OF)  # the fine-tuning recipes last


def train(recipe: str, out: Path, *sets: str) -> tuple[float, dict[str, Any]]:
    """Wall seconds of the whole `kproto train` command, and the run's metrics.json."""
    args = [sys.executable, "-m", "kproto", "train", str(ROOT / "recipes" / f"{recipe}.yaml"), "--out", str(out)]
    for value in sets:
        args += ["--set", value]
    began = time.perf_counter()
    done = subprocess.run(args, capture_output=True, text=True, cwd=ROOT)
    seconds = time.perf_counter() - began
    if done.returncode != 0:
        raise RuntimeError(f"kproto train {recipe} failed:\n{done.stdout[-1500:]}\n{done.stderr[-1500:]}")
    newest = max(out.glob("*/*/metrics.json"), key=lambda p: p.stat().st_mtime)
    return seconds, json.loads(newest.read_text())


def measure(recipe: str, scratch: Path, overhead: int) -> dict[str, Any]:
    sets = [f"train.epochs={EPOCHS[recipe]}"] if recipe in EPOCHS else []
    if recipe in SOURCE_OF:
        folder, name = SOURCE_OF[recipe]
        sets.append(f"model.source={scratch / folder / name}")
    seconds, metrics = train(recipe, scratch / recipe, *sets)
    info = metrics.get("baselines_info", {})
    row: dict[str, Any] = {
        "recipe": recipe,
        "epochs": metrics.get("epochs"),
        "fewer_epochs": recipe in EPOCHS,
        "command_seconds": round(seconds, 1),
        "baseline_seconds": info.get("total_seconds"),
        "waited_seconds": info.get("waited_seconds", info.get("total_seconds")),
        "verdict": metrics.get("verdict"),
        "baselines": metrics.get("baselines", {}),
        "left_out": {**info.get("skipped", {}), **info.get("failed", {})},
    }
    if overhead:
        with_b, without = [], []
        for _ in range(overhead):
            with_b.append(train(recipe, scratch / "with", *sets)[0])
            without.append(train(recipe, scratch / "without", *sets, "train.baselines=none")[0])
        row["median_with"] = round(statistics.median(with_b), 2)
        row["median_without"] = round(statistics.median(without), 2)
    return row


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| recipe | epochs | verdict metric | this model | best baseline | baseline | model wins | baselines s "
        "(in the background) | waited s / command s |",
        "|---|---:|---|---:|---|---:|---|---:|---|",
    ]
    for row in rows:
        judged = row["verdict"] or {}
        epochs = f"{row['epochs']}" + (" (fewer)" if row["fewer_epochs"] else "")
        fitted = "" if row["baseline_seconds"] is None else f"{row['baseline_seconds']}"
        share = f"{row['waited_seconds']} / {row['command_seconds']}" if row["waited_seconds"] is not None else ""
        if not judged:
            lines.append(f"| {row['recipe']} | {epochs} | — | — | no baseline applies | — | — | {fitted} | {share} |")
            continue
        wins = "yes" if judged["model_wins"] else "**no: a baseline wins**"
        lines.append(
            f"| {row['recipe']} | {epochs} | {judged['metric']} | {judged['model']:.4g} | "
            f"{judged['best_baseline'].replace('_', ' ')} | {judged['baseline']:.4g} | {wins} | {fitted} | {share} |"
        )
    for row in rows:
        if "median_with" in row:
            added = row["median_with"] - row["median_without"]
            lines.append(
                f"\n{row['recipe']}: whole command median {row['median_with']} s with baselines, "
                f"{row['median_without']} s without: {added:+.2f} s ({added / row['median_without']:+.1%}); "
                f"the end of training waited {row['waited_seconds']} s for baselines fitted in "
                f"{row['baseline_seconds']} s beside training ({row['waited_seconds'] / row['command_seconds']:.1%} "
                f"of the command; floor {SHARE:.0%})"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipes", default=",".join(shipped()))
    parser.add_argument("--overhead", type=int, default=0, metavar="N", help="N runs with and without baselines")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for recipe in args.recipes.split(","):
            try:
                rows.append(measure(recipe, Path(folder), args.overhead))
            except RuntimeError as exc:
                print(exc, file=sys.stderr)
            else:
                print(markdown(rows[-1:]).splitlines()[-1], flush=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = ROOT / "bench" / "results" / f"baselines-{stamp}"
    out.with_suffix(".json").write_text(json.dumps(rows, indent=2) + "\n")
    out.with_suffix(".md").write_text(markdown(rows))
    print(markdown(rows))


if __name__ == "__main__":
    main()
