"""What the text and ratings suites share: one result row per (set, seed, variant), its Markdown table and the
command line that runs a suite alone."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def result_row(
    name: str, seed: int, label: str, metric: str, score: float, baseline_name: str, baseline: float, **extra: Any
) -> dict:
    """One row: kproto's score beside the baseline's on the same rows (`label` names a variant of the defaults)."""
    dataset = f"{name} (seed {seed})" if label == "defaults" else f"{name} (seed {seed}, {label})"
    row = {
        "dataset": dataset,
        "metric": metric,
        "kproto": score,
        "baseline_name": baseline_name,
        "baseline": baseline,
        "diff": score - baseline,
        "seed": seed,
    }
    row.update(extra)
    print(line(row), flush=True)
    return row


def line(row: dict) -> str:
    """The row's line of the Markdown table."""
    return (
        f"| {row['dataset']} | {row['metric']} | {row['kproto']:.4f} | {row['baseline_name']} | "
        f"{row['baseline']:.4f} | {row['diff']:+.4f} | {row.get('seconds', 0):.0f} |"
    )


def table(rows: list[dict], seconds: str = "train s", note: str = "") -> str:
    """The Markdown table of `rows`; `note` (e.g. which sign favours kproto) goes above it."""
    head = f"| set | metric | kproto | baseline | baseline score | difference | {seconds} |\n"
    body = head + "|---|---|---:|---|---:|---:|---:|\n" + "\n".join(line(r) for r in rows) + "\n"
    return f"{note}\n\n{body}" if note else body


def parse_variant(text: str) -> tuple[str, list[str]]:
    """ "LABEL: KEY=VALUE; KEY=VALUE" → (LABEL, ["KEY=VALUE", ...]); without a label, the overrides name it."""
    label, sep, rest = text.partition(":")
    if not sep or "=" in label:
        label, rest = "", text
    overrides = [part.strip() for part in rest.split(";") if part.strip()]
    return label.strip() or ", ".join(overrides), overrides


def standalone(
    description: str,
    stem: str,
    run: Callable[..., list[dict]],
    render: Callable[[list[dict]], str],
    sets: Sequence[str] = (),
    variants: bool = False,
) -> int:
    """Run one suite from the command line: train, write results/<stem>-<stamp>.json and .md, print the table.

    With `sets`, the command takes `--sets` (a choice among them) and passes the chosen names to `run` as `names`.
    With `variants`, it takes `--variant "LABEL: KEY=VALUE; KEY=VALUE"` (repeatable) and passes them to `run` as
    `variants`: [(label, ["KEY=VALUE", ...]), ...], recipe overrides for kproto's --set."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--seeds", type=int, nargs="+", default=None, help="default: 0 and 1 (0 with --quick)")
    parser.add_argument("--quick", action="store_true", help="a smaller, faster run")
    parser.add_argument("--before", action="store_true", help="also train the previous defaults")
    if sets:
        parser.add_argument("--sets", nargs="+", choices=list(sets), default=None)
    if variants:
        parser.add_argument(
            "--variant",
            action="append",
            default=[],
            help='"LABEL: KEY=VALUE; KEY=VALUE", recipe overrides trained beside the defaults (repeatable)',
        )
    args = parser.parse_args()
    seeds = args.seeds or ([0] if args.quick else [0, 1])
    extra: dict[str, Any] = {"names": args.sets} if sets else {}
    if variants and args.variant:
        extra["variants"] = [parse_variant(text) for text in args.variant]
    rows = run(seeds, args.quick, before=args.before, **extra)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (RESULTS / f"{stem}-{stamp}.json").write_text(json.dumps(rows, indent=2))
    (RESULTS / f"{stem}-{stamp}.md").write_text(render(rows))
    print(render(rows))
    return 0
