"""Where the whole `kproto train` of the 50k-row tabular set spends its time beyond the epochs: CPU seconds, the first
epoch, and each XLA compile (JAX's compile log), on a cold and a warm persistent compilation cache.

    python bench/compile_time.py                    # this tree: one cold run (empty JAX cache), then one warm run
    python bench/compile_time.py --before bc5f683   # also the tree at a git commit, alternating, cold runs
    python bench/compile_time.py --runs 2 --no-warm

The recipe and data are bench/run.py's end-to-end case (bench/tabular.yaml on `make_tabular(50_000)`, 10 epochs).
Each run is a fresh process under `nice`; its CPU seconds (every thread, from wait4) are the signal on a shared
machine, wall seconds only on an idle one. Compile seconds are the wall time JAX logs per program, summed: programs
compiled side by side in threads count each. Raw results go to bench/results/compile-<stamp>.json and a Markdown
table to bench/results/compile-<stamp>.md; the runs' validation and test metrics are kept to show they agree.
"""

from __future__ import annotations

import argparse
import collections
import csv
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
COMPILED = re.compile(r"Finished XLA compilation of jit\(([^)]*)\) in ([0-9.]+) sec")
TRACED = re.compile(r"Finished tracing ([A-Za-z_0-9]+) for jit in ([0-9.]+) sec")


def _tabular() -> Path:
    """bench/run.py's 50k-row table (made once, kept under bench/results/tmp)."""
    spec = importlib.util.spec_from_file_location("bench_run", ROOT / "bench" / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.SCRATCH.mkdir(parents=True, exist_ok=True)
    return module.make_tabular(50_000)


def one_run(tree: Path, data: Path, cache: Path, epochs: int) -> dict:
    """`kproto train` of the tabular recipe from source tree `tree` with JAX's cache in `cache`; its numbers."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "-1", "JAX_LOG_COMPILES": "1"}
    env.pop("KERAS_BACKEND", None)
    env.update(PYTHONPATH=str(tree), KPROTO_CACHE=str(cache))
    with tempfile.TemporaryDirectory() as out:
        cmd = ["nice", "-n", "10", sys.executable, "-m", "kproto.cli", "train", str(ROOT / "bench" / "tabular.yaml")]
        cmd += ["--out", out, "--set", f"data.path={data}", "--set", f"train.epochs={epochs}"]
        began = time.perf_counter()
        with tempfile.TemporaryFile("w+") as log:
            proc = subprocess.Popen(cmd, cwd=tree, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
            _, status, usage = os.wait4(proc.pid, 0)
            wall = time.perf_counter() - began
            log.seek(0)
            text = log.read()
        if os.waitstatus_to_exitcode(status) != 0:
            return {"error": text[-2000:]}
        run = next(Path(out).glob("*/*/metrics.json")).parent
        metrics = json.loads((run / "metrics.json").read_text())
        with open(run / "history.csv") as handle:
            seconds = [float(row["seconds"]) for row in csv.DictReader(handle)]
    compiles: dict[str, list[float]] = collections.defaultdict(list)
    for name, took in COMPILED.findall(text):
        compiles[name].append(float(took))
    traces = {name: float(took) for name, took in TRACED.findall(text) if name in ("train_chunk", "train_partial")}
    return {
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2),
        "wall": round(wall, 2),
        "first_epoch": seconds[0],
        "later_epochs": round(sum(seconds[1:]), 2),
        "compile_seconds": round(sum(sum(v) for v in compiles.values()), 2),
        "programs": sum(len(v) for v in compiles.values()),
        "cache_hits": text.count("Persistent compilation cache hit"),
        "compiles": {k: [len(v), round(sum(v), 2)] for k, v in sorted(compiles.items(), key=lambda kv: -sum(kv[1]))},
        "traces": traces,
        "validation": metrics.get("validation"),
        "test": metrics.get("test"),
        "baselines_info": metrics.get("baselines_info"),
    }


def markdown(rows: list[dict], meta: dict) -> str:
    lines = [
        f"# compile_time {meta['date']} (load {meta['load_start']} → {meta['load_end']})",
        "",
        "| tree | cache | CPU s | wall s | first epoch s | later epochs s | compile s (programs) | biggest compiles |",
        "|---|---|---:|---:|---:|---:|---|---|",
    ]
    for row in rows:
        if "error" in row:
            lines.append(f"| {row['tree']} | {row['cache']} | failed | | | | | |")
            continue
        biggest = ", ".join(f"{k} {n}× {s}" for k, (n, s) in list(row["compiles"].items())[:4])
        lines.append(
            f"| {row['tree']} | {row['cache']} | {row['cpu_seconds']} | {row['wall']} | {row['first_epoch']} | "
            f"{row['later_epochs']} | {row['compile_seconds']} ({row['programs']}) | {biggest} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", default=None, help="a git commit whose tree is timed too (cold runs)")
    parser.add_argument("--runs", type=int, default=1, help="cold runs per tree")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--no-warm", action="store_true", help="skip the warm-cache run of this tree")
    args = parser.parse_args()
    data = _tabular()
    scratch = Path(tempfile.mkdtemp(prefix="kproto-compile-"))
    trees = {"this": ROOT}
    if args.before:
        before = scratch / "before"
        before.mkdir()
        archive = subprocess.run(["git", "archive", args.before], cwd=ROOT, capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(before)], input=archive, check=True)
        trees = {args.before: before, "this": ROOT}
    meta = {"date": time.strftime("%Y-%m-%d %H:%M"), "load_start": [round(v, 1) for v in os.getloadavg()]}
    rows: list[dict] = []
    try:
        for index in range(args.runs):
            for label, tree in trees.items():
                cache = scratch / f"cache-{label}-{index}"
                rows.append({"tree": label, "cache": "cold", **one_run(tree, data, cache, args.epochs)})
                print(json.dumps({k: v for k, v in rows[-1].items() if k != "compiles"}), flush=True)
                if label == "this" and index == 0 and not args.no_warm:
                    rows.append({"tree": label, "cache": "warm", **one_run(tree, data, cache, args.epochs)})
                    print(json.dumps({k: v for k, v in rows[-1].items() if k != "compiles"}), flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    meta["load_end"] = [round(v, 1) for v in os.getloadavg()]
    stamp = time.strftime("%Y%m%d-%H%M%S")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"compile-{stamp}.json").write_text(json.dumps({"meta": meta, "results": rows}, indent=2))
    summary = markdown(rows, meta)
    (RESULTS / f"compile-{stamp}.md").write_text(summary)
    print(summary)


if __name__ == "__main__":
    main()
