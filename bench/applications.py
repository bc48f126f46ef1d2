"""Train the shipped sequence-to-sequence and recommender recipes and check them against their floors.

    python bench/applications.py                       # all four recipes, and the ranking one with bce
    python bench/applications.py --recipes movielens_mf

Each recipe is trained by `kproto train` in a fresh process; its metrics.json supplies the test report and the
baselines computed on the same split. Raw results go to bench/results/applications-<stamp>.json and a Markdown
table to bench/results/applications-<stamp>.md (paste it into BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES", "-1")}
ENV["PYTHONPATH"] = str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")
TEN_MINUTES = 600.0


def _score(baselines: dict, name: str, metric: str, default: float) -> float:
    """A baseline's score from metrics.json: nested ({name: {metric: value}}) or flat ({name_metric: value})."""
    nested = baselines.get(name)
    if isinstance(nested, dict) and metric in nested:
        return float(nested[metric])
    return float(baselines.get(f"{name}_{metric}", default))


def _g2p(metrics: dict, seconds: float) -> list[tuple[str, str, bool]]:
    report, baselines = metrics.get("report", {}), metrics.get("baselines", {})
    ter = report.get("token_error_rate", float("inf"))
    baseline = min(
        _score(baselines, "copy_input", "token_error_rate", 1.0),
        _score(baselines, "most_frequent", "token_error_rate", 1.0),
    )
    return [
        ("test token_error_rate ≤ 0.25", f"{ter:.4f}", ter <= 0.25),
        ("beats the best baseline clearly (≤ half its error)", f"{ter:.4f} vs {baseline:.4f}", ter <= baseline / 2),
        ("whole command ≤ 10 CPU minutes (user + system time)", f"{seconds:.0f} s", seconds <= TEN_MINUTES),
    ]


def _p2g(metrics: dict, seconds: float) -> list[tuple[str, str, bool]]:
    """The reverse direction has no floor of its own: it should beat its baselines clearly, in 10 CPU minutes."""
    return _g2p(metrics, seconds)[1:]


def _ratings(metrics: dict, seconds: float) -> list[tuple[str, str, bool]]:
    report, baselines = metrics.get("report", {}), metrics.get("baselines", {})
    model, bias = report.get("rmse", float("inf")), _score(baselines, "user_item_bias", "rmse", 0.0)
    mean = _score(baselines, "global_mean", "rmse", 0.0)
    return [
        ("test RMSE below the user+item-bias baseline (time split)", f"{model:.4f} vs {bias:.4f}", model < bias),
        (
            "and below the global mean",
            f"{model:.4f} vs {mean:.4f}",
            model < mean,
        ),
    ]


def _ranking(metrics: dict, seconds: float) -> list[tuple[str, str, bool]]:
    report, baselines = metrics.get("report", {}), metrics.get("baselines", {})
    model, popular = report.get("ndcg@10", 0.0), _score(baselines, "most_popular", "ndcg@10", 1.0)
    return [("test ndcg@10 above most-popular", f"{model:.4f} vs {popular:.4f}", model > popular)]


CHECKS: dict[str, Callable[[dict, float], list[tuple[str, str, bool]]]] = {
    "pronunciations_seq2seq": _g2p,
    "spellings_seq2seq": _p2g,
    "movielens_mf": _ratings,
    "movielens_ranking": _ranking,
    "movielens_ranking_bce": _ranking,
}
# Runs of a shipped recipe with a field changed, for comparison: name → (recipe, --set overrides).
VARIANTS: dict[str, tuple[str, list[str]]] = {
    "movielens_ranking_bce": ("movielens_ranking", ["model.ranking_loss=bce"])
}


def train(name: str, out: Path) -> tuple[dict, float, float, str]:
    """Run `kproto train` on recipes/<recipe>.yaml (a VARIANTS name: with its overrides); (metrics.json, wall
    seconds, CPU seconds, output tail).

    CPU seconds (user + system of the training process) are what a shared machine cannot inflate; on an idle
    2-core machine the wall time is at most that, at least half of it."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    recipe, overrides = VARIANTS.get(name, (name, []))
    command = [sys.executable, "-m", "kproto.cli", "train", str(ROOT / "recipes" / f"{recipe}.yaml"), "--out", str(out)]
    command += [part for override in overrides for part in ("--set", override)]
    done = subprocess.run(command, cwd=ROOT, env=ENV, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    tail = (done.stdout + done.stderr)[-2000:]
    found = sorted(out.glob("*/*/metrics.json"))
    if done.returncode != 0 or not found:
        return {}, seconds, cpu, tail
    return json.loads(found[-1].read_text()), seconds, cpu, tail


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipes", nargs="+", default=list(CHECKS), choices=list(CHECKS))
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    results, lines, failed = {}, ["| recipe | floor | measured | met |", "|---|---|---|---|"], False
    for recipe in args.recipes:
        with tempfile.TemporaryDirectory() as scratch:
            metrics, seconds, cpu, tail = train(recipe, Path(scratch))
        if not metrics:
            print(f"{recipe}: training failed\n{tail}", file=sys.stderr)
            failed = True
            continue
        checks = CHECKS[recipe](metrics, cpu)
        results[recipe] = {
            "seconds": seconds,
            "cpu_seconds": cpu,
            "report": metrics.get("report"),
            "baselines": metrics.get("baselines"),
            "test": metrics.get("test"),
            "epochs": metrics.get("epochs"),
            "best_epoch": metrics.get("best_epoch"),
            "checks": [{"floor": f, "measured": m, "met": ok} for f, m, ok in checks],
        }
        for floor, measured, ok in checks:
            lines.append(f"| {recipe} | {floor} | {measured} | {'yes' if ok else '**no**'} |")
            failed |= not ok
        print("\n".join(lines[-len(checks) :]), flush=True)
    machine = f"{platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}"
    (RESULTS / f"applications-{stamp}.json").write_text(json.dumps({"machine": machine, "results": results}, indent=2))
    (RESULTS / f"applications-{stamp}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
