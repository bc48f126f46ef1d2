"""Defaults against strong baselines: kproto's default recipes on a suite of public data sets, several seeds.

    python bench/quality.py                    # every suite that is present, 3 seeds
    python bench/quality.py --suite tables --quick --seeds 0   # one seed, smaller caps
    python bench/quality.py --suite tables --write             # also rewrite the section in BENCHMARKS.md
    python bench/quality.py --from bench/results/quality-X.json --write   # the section from saved rows

Each suite module (bench/quality_tables.py, and bench/quality_text.py and bench/quality_ratings.py where present)
has `run(seeds: list[int], quick: bool) -> list[Row]`: per data set, seed and baseline, kproto's held-out score, the
baseline's on the same test rows, and the difference (kproto − baseline, in points: accuracy × 100, R² × 100, or
the suite's metric). This script gathers the rows, prints per data set the mean difference with its spread over
seeds and the mean over data sets, and writes bench/results/quality-<stamp>.json and .md; with --write it replaces
the section "Defaults against strong baselines" of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import importlib
import json
import statistics
import sys
import time
from pathlib import Path
from typing import TypedDict

ROOT = Path(__file__).resolve().parent.parent
SUITES = {"tables": "quality_tables", "text": "quality_text", "ratings": "quality_ratings"}
SECTION = "## Defaults against strong baselines"
FLOOR = 2.0  # the per-data-set floor: no data set more than this many points behind a baseline


class Row(TypedDict, total=False):
    """One data set, seed and baseline: kproto's score, the baseline's on the same held-out rows, and the
    difference kproto − baseline in the metric's points (higher is better for kproto)."""

    dataset: str
    metric: str  # e.g. "accuracy (points)", "R² (points)", "RMSE (negated)"
    kproto: float
    baseline_name: str
    baseline: float
    diff: float
    seed: int
    seconds: float  # kproto's training time


def suite_rows(name: str, seeds: list[int], quick: bool) -> list[Row] | None:
    """The rows of one suite, or None when its module is absent."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    try:
        module = importlib.import_module(SUITES[name])
    except ModuleNotFoundError as exc:
        if exc.name == SUITES[name]:
            return None
        raise
    return module.run(seeds, quick)


def summarize(rows: list[Row]) -> list[dict]:
    """Per (data set, baseline): the mean kproto and baseline scores, the mean difference and its spread (the
    standard deviation over seeds, 0 for one seed)."""
    groups: dict[tuple[str, str], list[Row]] = {}
    for row in rows:
        groups.setdefault((row["dataset"], row["baseline_name"]), []).append(row)
    summary = []
    for (dataset, baseline), group in groups.items():
        diffs = [r["diff"] for r in group]
        summary.append(
            {
                "dataset": dataset,
                "metric": group[0]["metric"],
                "baseline_name": baseline,
                "kproto": statistics.mean(r["kproto"] for r in group),
                "baseline": statistics.mean(r["baseline"] for r in group),
                "diff": statistics.mean(diffs),
                "spread": statistics.stdev(diffs) if len(diffs) > 1 else 0.0,
                "seeds": len(group),
            }
        )
    return summary


def markdown(summary: list[dict], seeds: list[int], quick: bool, minutes: float) -> str:
    """The section's table: one line per data set and baseline, then the mean difference per baseline."""
    lines = [
        "| data set | metric | baseline | kproto | baseline score | kproto − baseline | spread |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for s in summary:
        lines.append(
            f"| {s['dataset']} | {s['metric']} | {s['baseline_name']} | {s['kproto']:.2f} | {s['baseline']:.2f} "
            f"| {s['diff']:+.2f} | ±{s['spread']:.2f} |"
        )
    lines.append("")
    for baseline in dict.fromkeys(s["baseline_name"] for s in summary):
        diffs = [s["diff"] for s in summary if s["baseline_name"] == baseline]
        worst = min(summary, key=lambda s: s["diff"] if s["baseline_name"] == baseline else float("inf"))
        behind = [s for s in summary if s["baseline_name"] == baseline and s["diff"] < -FLOOR]
        lines.append(
            f"- mean kproto − {baseline} over {len(diffs)} data sets: **{statistics.mean(diffs):+.2f}** points "
            f"(worst: {worst['dataset']} {worst['diff']:+.2f}); more than {FLOOR:g} points behind: "
            + (", ".join(f"{s['dataset']} {s['diff']:+.2f} (±{s['spread']:.2f})" for s in behind) or "none")
        )
    lines.append(
        f"- seeds {', '.join(map(str, seeds))}{', --quick caps' if quick else ''}; {minutes:.1f} minutes of wall time"
    )
    return "\n".join(lines)


def write_section(text: str) -> None:
    """Replace (or append) the section in BENCHMARKS.md, keeping the text above its table."""
    path = ROOT / "BENCHMARKS.md"
    current = path.read_text()
    block = f"{SECTION}\n\n{text}\n"
    if SECTION in current:
        start = current.index(SECTION)
        following = current.find("\n## ", start + len(SECTION))
        old = current[start : following if following >= 0 else len(current)]
        intro = old[len(SECTION) : old.find("\n|")].strip("\n")  # the text above the table stays
        block = f"{SECTION}\n\n{intro}\n\n{text}\n" if intro else block
        current = current[:start] + block + ("\n" + current[following + 1 :] if following >= 0 else "")
    else:
        current = current.rstrip("\n") + "\n\n" + block
    path.write_text(current)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--suite", choices=[*SUITES, "all"], default="all")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--quick", action="store_true", help="smaller row caps and fewer epochs")
    parser.add_argument("--write", action="store_true", help="rewrite the section of BENCHMARKS.md")
    parser.add_argument("--from", dest="saved", type=Path, help="render the rows of an earlier run's JSON")
    args = parser.parse_args()
    if args.saved:
        saved = json.loads(args.saved.read_text())
        rows = saved["rows"]
        seeds = sorted({r["seed"] for r in rows if "seed" in r}) or args.seeds
        text = markdown(summarize(rows), seeds, saved.get("quick", False), saved.get("minutes", 0.0))
        print(text)
        if args.write:
            write_section(text)
        return
    began = time.perf_counter()
    rows: list[Row] = []
    for name in SUITES if args.suite == "all" else [args.suite]:
        found = suite_rows(name, args.seeds, args.quick)
        if found is None:
            print(f"({name}: bench/{SUITES[name]}.py is absent, skipped)")
            continue
        rows += found
    summary = summarize(rows)
    text = markdown(summary, args.seeds, args.quick, (time.perf_counter() - began) / 60)
    print(text)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    results = ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    minutes = (time.perf_counter() - began) / 60
    saved = {"rows": rows, "summary": summary, "quick": args.quick, "minutes": minutes}
    (results / f"quality-{stamp}.json").write_text(json.dumps(saved, indent=1))
    (results / f"quality-{stamp}.md").write_text(text + "\n")
    if args.write:
        write_section(text)


if __name__ == "__main__":
    main()
