"""The floors of calibrated decisions on shipped recipes: calibration never raises the test ECE by more than 0.01
(and lowers it somewhere), and split-conformal coverage on the test split is within 0.05 of the asked coverage
where the test split has at least 200 rows.

    python bench/decisions.py                                  # the default recipes below, full training
    python bench/decisions.py --recipes digits_mlp,credit_minimal --coverage 0.8,0.9,0.95

Each recipe is trained with `kproto train` into a temporary folder, then `kproto evaluate --coverage P --json` is
run per coverage. Prints a table and writes bench/results/decisions-<stamp>.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = "credit_minimal,digits_mlp,iris_extends,digits_cnn,reviews_lstm,diabetes_regression,sunspots_gru"
ECE_ALLOWANCE = 0.01
COVERAGE_ALLOWANCE = 0.05
MIN_TEST_ROWS = 200


def kproto(*args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "kproto", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"kproto {' '.join(args)} failed:\n{done.stdout[-1500:]}\n{done.stderr[-1500:]}")
    return done.stdout


def measure(recipe: str, coverages: list[float], scratch: Path) -> dict[str, Any]:
    started = time.time()
    kproto("train", str(ROOT / "recipes" / f"{recipe}.yaml"), "--out", str(scratch / recipe))
    (metrics_path,) = (scratch / recipe).glob("*/*/metrics.json")
    run = metrics_path.parent
    metrics = json.loads(metrics_path.read_text())
    info = json.loads((run / "preprocess.json").read_text())["info"]
    result: dict[str, Any] = {
        "recipe": recipe,
        "task": info["task"],
        "test_rows": info["rows"].get("test", 0),
        "calibration": metrics.get("calibration"),
        "threshold": metrics.get("threshold"),
        "coverage": {},
    }
    for coverage in coverages:
        text = kproto("evaluate", str(run), "--coverage", str(coverage), "--json")
        summary = json.loads(text[text.index("{") :])["conformal"]
        result["coverage"][str(coverage)] = summary
    result["seconds"] = round(time.time() - started, 1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipes", default=DEFAULT)
    parser.add_argument("--coverage", default="0.8,0.9,0.95")
    args = parser.parse_args()
    coverages = [float(c) for c in args.coverage.split(",")]
    results = []
    with tempfile.TemporaryDirectory() as scratch:
        for recipe in args.recipes.split(","):
            try:
                result = measure(recipe, coverages, Path(scratch))
            except RuntimeError as exc:
                print(f"{recipe}: {exc}", flush=True)
                continue
            results.append(result)
            calibration = result["calibration"] or {}
            ece = (
                f"ECE {calibration['ece_before']:.4f} -> {calibration['ece_after']:.4f} (T {calibration['temperature']:.3f})"
                if calibration.get("ece_before") is not None
                else "no calibration (regression)"
            )
            reached = ", ".join(f"{k}: {v['coverage']:.3f}" for k, v in result["coverage"].items())
            print(f"{recipe}: {result['test_rows']} test rows; {ece}; coverage {reached}", flush=True)
    print(
        "\n| recipe | test rows | ECE before → after | temperature | "
        + " | ".join(f"coverage {c:g}" for c in coverages)
        + " | floors |"
    )
    print("|---|---:|---|---:|" + "---:|" * len(coverages) + "---|")
    for result in results:
        calibration = result["calibration"] or {}
        ok = True
        if calibration.get("ece_before") is not None:
            ece = f"{calibration['ece_before']:.4f} → {calibration['ece_after']:.4f}"
            temperature = f"{calibration['temperature']:.3f}"
            ok &= calibration["ece_after"] <= calibration["ece_before"] + ECE_ALLOWANCE
        else:
            ece, temperature = "—", "—"
        cells = []
        for coverage in coverages:
            summary = result["coverage"][str(coverage)]
            size = summary.get("mean_set_size", summary.get("mean_width"))
            cells.append(f"{summary['coverage']:.3f} ({'size' if 'mean_set_size' in summary else 'width'} {size:.3g})")
            if result["test_rows"] >= MIN_TEST_ROWS:
                ok &= abs(summary["coverage"] - coverage) <= COVERAGE_ALLOWANCE
        floors = "met" if ok else "MISSED"
        if result["test_rows"] < MIN_TEST_ROWS:
            floors += f" (coverage floor n/a: < {MIN_TEST_ROWS} test rows)"
        print(
            f"| {result['recipe']} | {result['test_rows']} | {ece} | {temperature} | "
            + " | ".join(cells)
            + f" | {floors} |"
        )
    out = ROOT / "bench" / "results" / f"decisions-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
