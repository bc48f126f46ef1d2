"""Time kproto against the plain Keras script a user would write, in one run, and print ratios.

    python bench/run.py            # every shipped recipe, data sizes x1 and x5 where rows can be replicated, 3 repeats
    python bench/run.py --quick    # 1 repeat, at most 3 epochs, size x1 only (a few minutes)

Each measurement is a fresh subprocess (imports included), kproto and the baseline alternating. Raw results go to
bench/results/<stamp>.json and a Markdown summary to bench/results/<stamp>.md (paste it into BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import csv
import glob
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
SCRATCH = RESULTS / "tmp"
PY = sys.executable
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES", "-1")}
ENV.pop("KERAS_BACKEND", None)
ENV["PYTHONPATH"] = str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")


def run_measured(
    cmd: list[str], env: dict[str, str] | None = None, watch: str | None = None, timeout: float = 3600
) -> dict:
    """Run `cmd`, returning wall and CPU seconds, peak RSS (MB), exit code, output tail, and when `watch` (a glob)
    first matched."""
    began = time.perf_counter()
    first: list[float] = []
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env or ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    stop = threading.Event()

    def poll() -> None:
        while watch and not stop.is_set() and not first:
            if glob.glob(watch):
                first.append(time.perf_counter() - began)
            time.sleep(0.02)

    watcher = threading.Thread(target=poll, daemon=True)
    watcher.start()
    output_chunks: list[str] = []
    reader = threading.Thread(target=lambda: output_chunks.append(proc.stdout.read()), daemon=True)
    reader.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - began
    stop.set()
    reader.join(timeout=5)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {
        "wall": wall,
        "peak_rss_mb": usage.ru_maxrss / 1024,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,  # every thread's CPU time: less sensitive to other load
        "rc": proc.returncode,
        "tail": "".join(output_chunks)[-1500:],
        "first_match": first[0] if first else None,
    }


def kproto_train(recipe: Path, overrides: list[str], out: Path) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    cmd = [PY, "-m", "kproto.cli", "train", str(recipe), "--out", str(out)]
    for item in overrides:
        cmd += ["--set", item]
    measured = run_measured(cmd, watch=str(out / "*" / "*" / "history.csv"))
    if measured["rc"] != 0:
        return {"error": measured["tail"], **measured}
    run = sorted(out.glob("*/*/metrics.json"))[-1].parent
    metrics = json.loads((run / "metrics.json").read_text())
    with open(run / "history.csv") as handle:
        history = list(csv.DictReader(handle))
    train_seconds = sum(float(row["seconds"]) for row in history)
    rows = metrics.get("rows_train") or _train_rows(run)
    result = {
        "rows": rows,
        "epochs": len(history),
        "train_seconds": train_seconds,
        "samples_per_s": rows * len(history) / train_seconds if train_seconds else None,
        "steady_samples_per_s": _steady(rows, [float(r["seconds"]) for r in history]),
        "validation": metrics.get("validation", {}),
        "test": metrics.get("test", {}),
        "engine": metrics.get("engine"),
        "backend": metrics.get("backend"),
        "seconds_to_first_epoch": measured["first_match"],
        **measured,
    }
    shutil.rmtree(out, ignore_errors=True)
    return result


def _train_rows(run: Path) -> int:
    info = json.loads((run / "preprocess.json").read_text())["info"]
    return int(info["rows"]["train"])


def _steady(rows: int, seconds: list[float]) -> float | None:
    rest = seconds[1:]
    return rows * len(rest) / sum(rest) if rest and sum(rest) > 0 else None


def plain_train(recipe: Path, overrides: list[str], backend: str = "tensorflow") -> dict:
    out = Path(tempfile.mkstemp(suffix=".json", dir=SCRATCH)[1])
    cmd = [PY, str(ROOT / "bench" / "plain_keras.py"), str(recipe), "--json", str(out)]
    for item in overrides:
        cmd += ["--set", item]
    measured = run_measured(cmd, env={**ENV, "KERAS_BACKEND": backend})
    if measured["rc"] != 0:
        return {"error": measured["tail"], **measured}
    data = json.loads(out.read_text())
    out.unlink()
    epochs = data["epochs"]
    return {
        "rows": data["rows"],
        "epochs": epochs,
        "train_seconds": sum(data["epoch_seconds"]),
        "samples_per_s": data["rows"] * epochs / sum(data["epoch_seconds"]),
        "steady_samples_per_s": _steady(data["rows"], data["epoch_seconds"]),
        "validation": data["validation"],
        "test": data["test"],
        "seconds_to_first_epoch": data["seconds_to_first_epoch"],
        **measured,
    }


def replicate(path: Path, times: int) -> Path:
    """The data file with its rows repeated `times` times (a larger set with the same distribution)."""
    target = SCRATCH / f"{path.stem}-x{times}{path.suffix}"
    if not target.exists():
        import pandas as pd

        frame = pd.read_csv(path)
        pd.concat([frame] * times, ignore_index=True).to_csv(target, index=False)
    return target


def make_tabular(rows: int, seed: int = 0) -> Path:
    """A synthetic tabular classification set: 16 numeric and 2 categorical features, 5 classes."""
    target = SCRATCH / f"tabular-{rows}.csv"
    if target.exists():
        return target
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 16))
    weights = rng.normal(size=(16, 5))
    city = rng.choice(["north", "south", "east", "west"], size=rows)
    plan = rng.choice(["basic", "plus", "pro"], size=rows)
    logits = x @ weights + (city == "north")[:, None] * 0.8 + (plan == "pro")[:, None] * np.arange(5) * 0.3
    label = (logits + rng.gumbel(size=logits.shape)).argmax(axis=1)
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(16)])
    frame["city"], frame["plan"], frame["label"] = city, plan, [f"class_{v}" for v in label]
    frame.to_csv(target, index=False)
    return target


def primary_metric(metrics: dict) -> tuple[str, float | None]:
    for name in ("accuracy", "mae", "loss"):
        if name in metrics:
            return name, metrics[name]
    return "", None


def median_of(results: list[dict], key: str) -> float | None:
    values = [r[key] for r in results if r.get(key) is not None and "error" not in r]
    return statistics.median(values) if values else None


def compare(
    label: str, recipe: Path, overrides: list[str], repeats: int, log: list[dict], baseline: bool = True
) -> dict:
    """Alternate kproto and the plain script `repeats` times on one recipe; keep every measurement.

    `baseline=False` times kproto alone (a GAN has no plain `model.fit` equivalent).
    """
    kp, plain = [], []
    for i in range(repeats):
        order = ("kproto", "plain") if i % 2 == 0 else ("plain", "kproto")
        order = order if baseline else ("kproto",)
        for side in order:
            if side == "kproto":
                kp.append(kproto_train(recipe, overrides, SCRATCH / f"runs-{os.getpid()}"))
            else:
                plain.append(plain_train(recipe, overrides))
            status = "error" if "error" in (kp if side == "kproto" else plain)[-1] else "ok"
            print(f"  {label} [{side} {i + 1}/{repeats}] {status}", flush=True)
    entry = {
        "label": label,
        "recipe": str(recipe.relative_to(ROOT)),
        "overrides": overrides,
        "kproto": kp,
        "plain": plain,
    }
    for side, results in (("kproto", kp), ("plain", plain)):
        entry[f"{side}_samples_per_s"] = median_of(results, "samples_per_s")
        entry[f"{side}_steady_samples_per_s"] = median_of(results, "steady_samples_per_s")
        entry[f"{side}_wall"] = median_of(results, "wall")
        entry[f"{side}_cpu"] = median_of(results, "cpu_seconds")
        entry[f"{side}_first_epoch"] = median_of(results, "seconds_to_first_epoch")
        entry[f"{side}_peak_rss_mb"] = median_of(results, "peak_rss_mb")
        ok = [r for r in results if "error" not in r]
        if ok:
            entry[f"{side}_validation"] = primary_metric(ok[-1]["validation"])
            entry[f"{side}_test"] = primary_metric(ok[-1]["test"])
            entry[f"{side}_epochs"] = ok[-1]["epochs"]
    if entry["kproto_samples_per_s"] and entry["plain_samples_per_s"]:
        entry["throughput_ratio_all_epochs"] = entry["kproto_samples_per_s"] / entry["plain_samples_per_s"]
    if entry["kproto_steady_samples_per_s"] and entry["plain_steady_samples_per_s"]:
        entry["throughput_ratio"] = entry["kproto_steady_samples_per_s"] / entry["plain_steady_samples_per_s"]
    # each repeat ran kproto and plain Keras back to back: the pairs' ratios show how far one reading can stray
    entry["pair_throughput_ratios"] = [
        a["steady_samples_per_s"] / b["steady_samples_per_s"]
        for a, b in zip(kp, plain, strict=False)
        if a.get("steady_samples_per_s") and b.get("steady_samples_per_s")
    ]
    if entry["kproto_wall"] and entry["plain_wall"]:
        entry["end_to_end_ratio"] = entry["plain_wall"] / entry["kproto_wall"]
    entry["engine"] = next((r.get("engine") for r in kp if r.get("engine")), None)
    log.append(entry)
    return entry


def _pairs(ratios: list[float]) -> str:
    """ " (3.14–4.24)": the range of the single pairs' ratios, when there are several."""
    return f" ({min(ratios):.2f}–{max(ratios):.2f})" if len(ratios) > 1 else ""


def startup(repeats: int = 7) -> dict:
    recipe = ROOT / "recipes" / "digits_mlp.yaml"
    timings = {}
    for name, cmd in (
        ("kproto --help", [PY, "-m", "kproto.cli", "--help"]),
        ("kproto validate", [PY, "-m", "kproto.cli", "validate", str(recipe)]),
        # a table recipe: validate audits the first rows (read with the csv module, kproto.data.sample)
        (
            "kproto validate, table (credit_minimal)",
            [PY, "-m", "kproto.cli", "validate", str(ROOT / "recipes" / "credit_minimal.yaml")],
        ),
    ):
        measured = [run_measured(cmd) for _ in range(repeats)]
        timings[name] = statistics.median(m["wall"] for m in measured)
        timings[f"{name}, CPU"] = statistics.median(m["cpu_seconds"] for m in measured)
    installed = shutil.which("kproto")
    if installed:
        timings["kproto --help (console script)"] = statistics.median(
            run_measured([installed, "--help"])["wall"] for _ in range(repeats)
        )
    return timings


def levers(repeats: int, epochs: int, log: list[dict]) -> list[dict]:
    """Samples/s of kproto's engines on digits x5, to show what each speed lever contributes."""
    data = replicate(ROOT / "data" / "digits.csv", 5)
    recipe = ROOT / "recipes" / "digits_mlp.yaml"
    base = [f"data.path={data}", f"train.epochs={epochs}", "train.early_stopping=null"]
    variants = [
        ("plain model.fit, TensorFlow (baseline)", None),
        (
            "kproto fit engine, TensorFlow, steps_per_execution 1",
            ["train.backend=tensorflow", "train.engine=fit", "train.steps_per_execution=1"],
        ),
        ("kproto fit engine, TensorFlow, steps_per_execution 16", ["train.backend=tensorflow", "train.engine=fit"]),
        ("kproto fit engine, JAX, steps_per_execution 16", ["train.backend=jax", "train.engine=fit"]),
        ("kproto fused engine, JAX (auto choice)", ["train.backend=jax", "train.engine=fused"]),
    ]
    rows = []
    for label, extra in variants:
        results = []
        for _ in range(repeats):
            if extra is None:
                results.append(plain_train(recipe, base))
            else:
                results.append(kproto_train(recipe, base + extra, SCRATCH / f"lever-{os.getpid()}"))
        row = {
            "lever": label,
            "samples_per_s": median_of(results, "samples_per_s"),
            "steady_samples_per_s": median_of(results, "steady_samples_per_s"),
            "raw": results,
        }
        rows.append(row)
        print(f"  lever {label}: {row['samples_per_s']}", flush=True)
    log.append({"levers": rows})
    return rows


def streaming(gigabytes: float, log: list[dict]) -> dict:
    """Generate a CSV of about `gigabytes` GB and train one epoch in streaming mode; compare with in-memory on 200k rows."""
    rows = int(gigabytes * 1e9 / 330)  # ~330 bytes per row of make_tabular's layout
    # Made in a child process: a forked child's peak RSS counts the parent's memory at fork time.
    subprocess.run([PY, __file__, "--make-tabular", str(rows)], cwd=ROOT, env=ENV, check=True)
    big = make_tabular(rows, seed=1)
    recipe = ROOT / "bench" / "tabular.yaml"
    streamed = kproto_train(
        recipe,
        [
            f"data.path={big}",
            "data.streaming=true",
            "train.epochs=1",
            "data.split.test=0.01",
            "data.split.validation=0.01",
        ],
        SCRATCH / "stream",
    )
    small = make_tabular(200_000, seed=2)
    memory = kproto_train(recipe, [f"data.path={small}", "data.streaming=false", "train.epochs=1"], SCRATCH / "inmem")
    result = {"file_gb": big.stat().st_size / 1e9, "rows": rows, "streaming": streamed, "in_memory": memory}
    log.append({"streaming": result})
    return result


def markdown(log: list[dict], meta: dict) -> str:
    lines = [f"Measured {meta['date']} on {meta['machine']}; {meta['versions']}.", ""]
    if meta.get("overrides"):
        lines += ["Every recipe with " + ", ".join(f"`{item}`" for item in meta["overrides"]) + ".", ""]
    if "load_average_at_start" in meta:
        start, end = meta["load_average_at_start"][0], meta.get("load_average_at_end", [None])[0]
        lines += [f"Load average (1 minute) at the start {start:.1f}, at the end {end:.1f}.", ""]
    lines += [
        "Throughput is training samples per second over epochs 2 and later (train + validation; epoch 1 also "
        "compiles); 'all epochs' includes epoch 1; with several repeats the ratio is the medians' ratio, and the "
        "range in brackets that of the single kproto/Keras pairs. Whole command: process start to exit, imports "
        "included.",
        "",
        "| recipe | engine | kproto samples/s | Keras samples/s | ratio | ratio, all epochs | val (kproto / Keras) "
        "| test (kproto / Keras) | peak MB (kproto / Keras) | whole command s (kproto / Keras) "
        "| to first epoch s (kproto / Keras) | whole command CPU s (kproto / Keras) |",
        "|---|---|---:|---:|---:|---:|---|---|---|---|---|---|",
    ]
    for e in log:
        if "label" not in e:
            continue
        kv, pv = e.get("kproto_validation", ("", None)), e.get("plain_validation", ("", None))
        kt, pt = e.get("kproto_test", ("", None)), e.get("plain_test", ("", None))
        cells = [
            e["label"],
            str(e.get("engine")),
            _n(e.get("kproto_steady_samples_per_s")),
            _n(e.get("plain_steady_samples_per_s")),
            _r(e.get("throughput_ratio")) + _pairs(e.get("pair_throughput_ratios") or []),
            _r(e.get("throughput_ratio_all_epochs")),
            f"{kv[0]} {_m(kv[1])} / {_m(pv[1])}",
            f"{kt[0]} {_m(kt[1])} / {_m(pt[1])}",
            f"{_n(e.get('kproto_peak_rss_mb'))} / {_n(e.get('plain_peak_rss_mb'))}",
            f"{_m(e.get('kproto_wall'))} / {_m(e.get('plain_wall'))}",
            f"{_m(e.get('kproto_first_epoch'))} / {_m(e.get('plain_first_epoch'))}",
            f"{_m(e.get('kproto_cpu'))} / {_m(e.get('plain_cpu'))}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    for e in log:
        if "levers" in e:
            lines += [
                "",
                "| speed lever (digits x5, feedforward) | samples/s | steady state (epochs 2+) |",
                "|---|---:|---:|",
            ]
            lines += [
                f"| {r['lever']} | {_n(r['samples_per_s'])} | {_n(r['steady_samples_per_s'])} |" for r in e["levers"]
            ]
        if "startup" in e:
            lines += ["", "| start-up | median seconds |", "|---|---:|"]
            lines += [f"| {k} | {v:.3f} |" for k, v in e["startup"].items()]
        if "streaming" in e:
            s = e["streaming"]
            lines += [
                "",
                f"Streaming: {s['file_gb']:.2f} GB CSV, {s['rows']:,} rows: "
                f"{_n(s['streaming'].get('samples_per_s'))} samples/s at peak RSS {_n(s['streaming'].get('peak_rss_mb'))} MB; "
                f"in memory (200k rows): {_n(s['in_memory'].get('samples_per_s'))} samples/s at {_n(s['in_memory'].get('peak_rss_mb'))} MB.",
            ]
    return "\n".join(lines) + "\n"


def _n(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


def _r(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}×"


def _m(value: float | None) -> str:
    return "—" if value is None else f"{value:.4g}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1 repeat, at most 3 epochs, size x1 only")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--recipes", default="", help="comma-separated recipe stems (default: all shipped recipes)")
    parser.add_argument(
        "--skip", default="", help="comma-separated parts to skip: recipes,levers,startup,e2e,streaming"
    )
    parser.add_argument(
        "--stream-gb", type=float, default=None, help="size of the generated streaming CSV (default 2, quick 0.3)"
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="a recipe override for every recipe and the end-to-end run (both sides), e.g. model.ensemble=1",
    )
    parser.add_argument("--make-tabular", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.make_tabular:
        SCRATCH.mkdir(parents=True, exist_ok=True)
        make_tabular(args.make_tabular, seed=1)
        return
    repeats = args.repeats or (1 if args.quick else 3)
    skip = set(filter(None, args.skip.split(",")))
    SCRATCH.mkdir(parents=True, exist_ok=True)
    import importlib.metadata as md

    versions = ", ".join(f"{p} {md.version(p)}" for p in ("keras", "tensorflow-cpu", "jax") if _has(p))
    meta = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "load_average_at_start": os.getloadavg(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, {platform.python_version()}",
        "versions": versions,
        "quick": args.quick,
        "repeats": repeats,
        "overrides": args.overrides,
    }
    log: list[dict] = []
    if "startup" not in skip:
        log.append({"startup": startup()})
        print("start-up:", log[-1]["startup"], flush=True)
    if "recipes" not in skip:
        wanted = set(filter(None, args.recipes.split(",")))
        for recipe in sorted((ROOT / "recipes").glob("*.yaml")):
            if recipe.stem == "base" or (wanted and recipe.stem not in wanted):
                continue
            extra = (["train.epochs=3"] if args.quick else []) + args.overrides
            adversarial = "type: gan" in recipe.read_text()
            compare(recipe.stem, recipe, extra, repeats, log, baseline=not adversarial)
            if not args.quick and recipe.stem == "digits_mlp":  # a larger data size: digits x5
                compare(
                    f"{recipe.stem} (data x5)",
                    recipe,
                    [f"data.path={replicate(ROOT / 'data' / 'digits.csv', 5)}", *args.overrides],
                    repeats,
                    log,
                )
    if "e2e" not in skip:
        data = make_tabular(50_000)
        compare(
            "tabular 50k rows, 10 epochs (whole command)",
            ROOT / "bench" / "tabular.yaml",
            [f"data.path={data}", "train.epochs=10", *args.overrides],
            repeats,
            log,
        )
    if "levers" not in skip:
        levers(repeats, 3 if args.quick else 5, log)
    if "streaming" not in skip:
        streaming(args.stream_gb or (0.3 if args.quick else 2.0), log)
    meta["load_average_at_end"] = os.getloadavg()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{stamp}.json").write_text(json.dumps({"meta": meta, "results": log}, indent=2, default=str))
    summary = markdown(log, meta)
    (RESULTS / f"{stamp}.md").write_text(summary)
    print(summary)


def _has(package: str) -> bool:
    import importlib.metadata as md

    try:
        md.version(package)
        return True
    except md.PackageNotFoundError:
        return False


if __name__ == "__main__":
    main()
