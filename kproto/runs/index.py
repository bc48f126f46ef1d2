"""Find, read, sort, filter and compare run directories (no Keras, no pandas).

A run is any folder holding `recipe.yaml` or `metrics.json` (normally `<out>/<name>/<stamp>/`). Runs whose files are
missing or unreadable are kept with status "broken" so that one bad folder never hides the others. The recipe is read
with the recipe loader's safe, bounded reader (no tags, bounded alias expansion), so no run folder can hang a listing.
Which way a metric sorts comes from the catalog (`kproto.core.catalog.lower_is_better`), as for early stopping.
"""

from __future__ import annotations

import csv
import io
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kproto.core import catalog
from kproto.core.catalog import lower_is_better
from kproto.core.errors import KprotoError, ModelFileError
from kproto.core.text import no_markup
from kproto.runs import layout
from kproto.runs.schemas import check_inside, owner_alive, read_run_json

SPLITS = ("train", "validation", "test")
SPLIT_ALIASES = {
    "train": "train",
    "training": "train",
    "val": "validation",
    "valid": "validation",
    "validation": "validation",
    "test": "test",
    "report": "report",
}
RUN_FIELDS = ("name", "status", "epochs", "seconds", "started", "path", "best_epoch")


@dataclass
class RunRecord:
    """What `kproto runs` knows about one run directory."""

    path: Path
    name: str
    stamp: str
    status: catalog.Status = catalog.BROKEN
    started: str = ""
    epochs: int | None = None
    best_epoch: int | None = None
    seconds: float | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    recipe: dict[str, Any] = field(default_factory=dict)
    problem: str = ""

    def split_metrics(self, split: str) -> dict[str, Any]:
        """A split's numbers; several targets: each target's block flattened as Keras logs it (`default_auc`)."""
        value = self.metrics.get(split)
        if not isinstance(value, dict):
            return {}
        if not any(isinstance(v, dict) for v in value.values()):
            return value
        flat: dict[str, Any] = {}
        for key, inner in value.items():
            if isinstance(inner, dict):
                flat.update({f"{key}_{name}": number for name, number in inner.items()})
            else:
                flat[key] = inner
        return flat

    def verdict(self) -> dict[str, Any] | None:
        """The run's verdict against its best baseline (metrics.json), or None for runs without one."""
        value = self.metrics.get("verdict")
        return value if isinstance(value, dict) and "model_wins" in value else None

    def history(self) -> list[dict[str, Any]]:
        """The run's history file as a list of rows of floats ([] when absent or unreadable)."""
        return read_history(self.path / layout.HISTORY)

    def to_dict(self, params: list[str] | None = None) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": str(self.path),
            "started": self.started,
            "status": self.status,
            "epochs": self.epochs,
            "best_epoch": self.best_epoch,
            "seconds": self.seconds,
            **{split: self.split_metrics(split) for split in SPLITS},
            "verdict": self.verdict(),
            "params": {key: self.recipe.get(key) for key in (params or [])},
            **({"problem": self.problem} if self.problem else {}),
        }


# ----------------------------------------------------------------------------- reading
def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """{'train': {'optimizer': {'name': 'adam'}}} → {'train.optimizer.name': 'adam'}; lists stay values."""
    if not isinstance(data, dict):
        return {prefix: data} if prefix else {}
    flat: dict[str, Any] = {}
    for key, value in data.items():
        dotted = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict) and value:
            flat.update(flatten(value, dotted))
        else:
            flat[dotted] = value
    return flat


def show(value: Any) -> str:
    """A recipe value as short text (YAML-ish flow style)."""
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(", ", ": "))
    return str(value)


def read_history(path: Path) -> list[dict[str, Any]]:
    """A history CSV as rows of floats (`epoch` as int); [] when the file is absent, unreadable, or a symbolic link
    (a run's files are read only from inside its folder)."""
    path = Path(path)
    try:
        check_inside(path.parent, path)
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError, ModelFileError):
        return []
    rows = []
    for row in csv.DictReader(io.StringIO(text)):
        parsed: dict[str, Any] = {}
        for key, value in row.items():
            if key is None or value in (None, ""):
                continue
            try:
                parsed[key] = float(value)
            except ValueError:
                parsed[key] = value
        if "epoch" in parsed:
            parsed["epoch"] = int(parsed["epoch"])
            rows.append(parsed)
    return rows


def _stamp_time(stamp: str) -> str:
    try:
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.strptime(stamp[:15], "%Y%m%d-%H%M%S"))
    except ValueError:
        return ""


def read_recipe_fields(path: Path) -> dict[str, Any]:
    """A run's recipe file as a mapping, read with the recipe loader's bounded safe reader.

    Raises FileNotFoundError when it is absent and ValueError when it is not a readable recipe mapping
    (bad YAML, tags, an alias bomb, not UTF-8).
    """
    from kproto.recipe.loader import parse_yaml

    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8 text ({exc})") from None
    try:
        raw, _ = parse_yaml(text, str(path))
    except KprotoError as exc:
        raise ValueError(exc.message) from None
    if not isinstance(raw, dict):
        raise ValueError("not a mapping")
    return raw


def read_run(path: Path) -> RunRecord:
    """One run folder as a RunRecord; never raises for missing or corrupt files."""
    path = Path(path)
    record = RunRecord(path=path, name=path.parent.name, stamp=path.name, started=_stamp_time(path.name))
    problems = []
    try:
        check_inside(path, path / layout.RECIPE)  # never a link that leads out of the run folder
        raw = read_recipe_fields(path / layout.RECIPE)
        record.recipe = flatten(raw)
        record.name = str(raw.get("name") or record.name)
    except FileNotFoundError:
        problems.append(f"{layout.RECIPE} is missing")
    except ModelFileError as exc:
        problems.append(f"{layout.RECIPE} is unreadable ({_problem(exc, path)})")
    except (OSError, ValueError):
        problems.append(f"{layout.RECIPE} is unreadable")
    metrics: dict[str, Any] = {}
    try:
        metrics = read_run_json(path, layout.METRICS)
        record.metrics = metrics
    except ModelFileError as exc:
        missing = not (path / layout.METRICS).exists() and not (path / layout.METRICS).is_symlink()
        problems.append(f"{layout.METRICS} is " + ("missing" if missing else f"unreadable ({_problem(exc, path)})"))
    record.started = str(metrics.get("started") or record.started)
    record.epochs = _number(metrics.get("epochs"), int)
    record.best_epoch = _number(metrics.get("best_epoch"), int)
    record.seconds = _number(metrics.get("seconds"), float)
    if problems:
        record.problem = "; ".join(problems)
        record.status = catalog.BROKEN
    else:
        record.status = str(metrics.get("status") or "unknown")
    owner = metrics.get("owner")
    if record.status == catalog.RUNNING and isinstance(owner, dict) and owner_alive(owner) is False:
        record.status = catalog.STALE  # its process is gone (killed, or its last write failed): resume it or delete it
        record.problem = f"the process that ran it (pid {owner.get('pid')} on {owner.get('host')}) is gone"
    return record


def _problem(exc: ModelFileError, folder: Path) -> str:
    """A run file's problem, its path shown relative to the run folder (the listing shows the folder)."""
    return exc.message.replace(f"{folder}/", "").replace(str(folder), ".")


def _number(value: Any, kind: type) -> Any:
    try:
        return kind(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def scan_runs(root: Path) -> list[RunRecord]:
    """Every run folder under `root` (or `root` itself), oldest first."""
    root = Path(root)
    if not root.exists():
        raise KprotoError(f"no such folder: {root}", field="DIR", hint="runs are written under runs/ by kproto train")
    if layout.is_run_folder(root):
        return [read_run(root)]
    found: set[Path] = set()
    for marker in layout.MARKERS:
        for file in root.rglob(marker):
            folder = file.parent
            if layout.CHECKPOINT in folder.relative_to(root).parts:
                continue
            found.add(folder)
    records = [read_run(folder) for folder in sorted(found)]
    records.sort(key=lambda r: (r.started or "", str(r.path)))
    return records


def resolve_run(path: Path) -> Path:
    """A run folder; a `runs/<name>` folder means its newest run."""
    path = Path(path)
    if not path.exists():
        raise KprotoError(f"no such run: {path}", field="RUN")
    if path.is_file():
        path = path.parent
    if layout.is_run_folder(path):
        return path
    stamps = sorted(p for p in path.iterdir() if p.is_dir() and layout.is_run_folder(p))
    if not stamps:
        raise KprotoError(
            f"{path} is not a run folder", field="RUN", hint="pass runs/<name>/<stamp> (or runs/<name> for the newest)"
        )
    return stamps[-1]


# ----------------------------------------------------------------------------- metrics, sorting, filtering
def parse_metric(key: str) -> tuple[str, str]:
    """'test.accuracy' → ('test', 'accuracy'); 'val_loss' → ('validation', 'loss'); 'loss' → ('validation', 'loss')."""
    key = key.strip()
    if key in RUN_FIELDS:
        return "run", key
    head, dot, tail = key.partition(".")
    if dot and head.lower() in SPLIT_ALIASES:
        return SPLIT_ALIASES[head.lower()], tail
    for prefix, split in (
        ("val_", "validation"),
        ("validation_", "validation"),
        ("test_", "test"),
        ("train_", "train"),
    ):
        if key.startswith(prefix):
            return split, key[len(prefix) :]
    if dot:
        return "recipe", key
    return "validation", key


def metric_value(record: RunRecord, key: str) -> Any:
    """The value of a metric (`test.accuracy`), run field (`seconds`) or recipe field (`model.units`), else None."""
    split, name = parse_metric(key)
    if split == "run":
        return getattr(record, name)
    if split == "recipe":
        return record.recipe.get(name)
    value = record.split_metrics(split).get(name)
    if value is None and split == catalog.VALIDATION and key in record.recipe:
        return record.recipe[key]
    return value


def sort_runs(records: list[RunRecord], key: str) -> list[RunRecord]:
    """Sorted by `key`, best first (direction from the metric's name); runs without the value go last."""
    split, name = parse_metric(key)
    if split == "run" and name in ("name", "status", "started", "path"):
        return sorted(records, key=lambda r: str(getattr(r, name)))
    ascending = lower_is_better(name)
    present, absent = [], []
    for record in records:
        value = metric_value(record, key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            present.append((value, record))
        else:
            absent.append(record)
    if not present and records:
        known = sorted({f"{s}.{m}" for r in records for s in SPLITS for m in r.split_metrics(s)})
        from kproto.core.errors import suggest

        guess = suggest(key, known)
        raise KprotoError(
            f"no run has a value for '{key}'",
            field="--sort",
            hint=(f"did you mean '{guess}'? " if guess else "") + f"known: {', '.join(known[:12]) or 'none'}",
        )
    present.sort(key=lambda pair: pair[0], reverse=not ascending)
    return [record for _, record in present] + absent


def _matches(record: RunRecord, text: str) -> bool:
    for op in ("!=", ">=", "<=", "=", ">", "<"):
        if op in text:
            key, _, expected = (part.strip() for part in text.partition(op))
            value = metric_value(record, key)
            if value is None and key in record.recipe:
                value = record.recipe[key]
            if op in ("=", "!="):
                equal = show(value) == expected or str(value) == expected
                if not equal:
                    try:
                        equal = value is not None and float(value) == float(expected)
                    except (TypeError, ValueError):
                        equal = False
                return equal if op == "=" else not equal
            try:
                number, limit = float(value), float(expected)
            except (TypeError, ValueError):
                return False
            return {">": number > limit, "<": number < limit, ">=": number >= limit, "<=": number <= limit}[op]
    needle = text.lower()
    return needle in record.name.lower() or needle in str(record.path).lower() or needle == record.status.lower()


def filter_runs(records: list[RunRecord], filters: tuple[str, ...] | list[str]) -> list[RunRecord]:
    """Keep runs matching every filter: a substring of the name/path/status, or FIELD=VALUE, FIELD>NUMBER, ..."""
    return [r for r in records if all(_matches(r, f) for f in filters)]


def differing_fields(records: list[RunRecord], ignore: tuple[str, ...] = ("name",)) -> list[str]:
    """Flattened recipe keys whose values are not the same in every run (broken runs without a recipe don't count)."""
    usable = [r for r in records if r.recipe]
    if len(usable) < 2:
        return []
    keys: list[str] = []
    for record in usable:
        keys += [k for k in record.recipe if k not in keys]

    def text(record: RunRecord, key: str) -> str:
        return json.dumps(record.recipe[key], sort_keys=True, default=str) if key in record.recipe else "<unset>"

    return [k for k in keys if k not in ignore and len({text(r, k) for r in usable}) > 1]


def key_metrics(records: list[RunRecord]) -> list[str]:
    """The metric names to show: loss, then the first other metric of each run (at most three)."""
    names = ["loss"]
    for record in records:
        monitor = record.metrics.get("monitor")  # several targets: the value that picked the best epoch
        if isinstance(monitor, str) and parse_metric(monitor)[1] not in names:
            names.append(parse_metric(monitor)[1])
        for split in (catalog.VALIDATION, catalog.TEST, catalog.TRAIN):
            others = [m for m in record.split_metrics(split) if m != "loss"]
            if others:
                if others[0] not in names:
                    names.append(others[0])
                break
    return names[:3]


# ----------------------------------------------------------------------------- output
def runs_rows(records: list[RunRecord], params: list[str]) -> list[dict[str, Any]]:
    """Flat rows for CSV: run fields, every split.metric, then the differing recipe fields."""
    metric_keys: list[str] = []
    for record in records:
        for split in SPLITS:
            metric_keys += [f"{split}.{m}" for m in record.split_metrics(split) if f"{split}.{m}" not in metric_keys]
    rows = []
    for record in records:
        row: dict[str, Any] = {
            "name": record.name,
            "path": str(record.path),
            "started": record.started,
            "status": record.status,
            "epochs": record.epochs,
            "seconds": record.seconds,
            "verdict": verdict_words(record.verdict()),
        }
        for key in metric_keys:
            split, _, name = key.partition(".")
            row[key] = record.split_metrics(split).get(name)
        for key in params:
            row[key] = show(record.recipe[key]) if key in record.recipe else ""
        rows.append(row)
    return rows


def verdict_words(verdict: dict[str, Any] | None, markup: bool = False) -> str:
    """A verdict in a few words: "beats gradient boosting (accuracy)" or "gradient boosting wins (accuracy 0.978
    vs 0.937)"; "" without one. `markup`: green or yellow for a rich table."""
    if not verdict:
        return ""
    label = str(verdict.get("best_baseline", "")).replace("_", " ")
    metric = str(verdict.get("metric", ""))
    if markup:  # a run folder's text is never markup
        label, metric = no_markup(label, 60), no_markup(metric, 60)
    if verdict.get("model_wins"):
        tied = verdict.get("model") == verdict.get("baseline")
        text = f"{'ties' if tied else 'beats'} {label} ({metric})"
        return f"[green]{text}[/]" if markup else text
    try:
        text = f"{label} wins ({metric} {float(verdict['baseline']):.4g} vs {float(verdict['model']):.4g})"
    except (KeyError, TypeError, ValueError):  # a hand-edited or truncated metrics.json
        text = f"{label} wins ({metric})"
    return f"[yellow]{text}[/]" if markup else text


def to_csv(rows: list[dict[str, Any]]) -> str:
    """Rows as CSV text; the columns are the union of the rows' keys, in first-seen order."""
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
    return buffer.getvalue()


def shown_fields(records: list[RunRecord], params: list[str], limit: int = 6) -> list[str]:
    """The differing fields worth a table column: those set in most runs first (model.type before family options)."""
    usable = [r for r in records if r.recipe]
    first = ("model.type",)
    ranked = sorted(params, key=lambda k: (k not in first, -sum(k in r.recipe for r in usable), params.index(k)))
    return ranked[:limit]


def runs_table(records: list[RunRecord], params: list[str], title: str = "Runs", max_fields: int = 6) -> Any:
    """A rich table: name, start, status, epochs, key validation and test metrics, seconds, differing fields."""
    from rich.table import Table

    from kproto.report.tables import fmt

    names = key_metrics(records)
    shown = shown_fields(records, params, max_fields)
    hidden = len(params) - len(shown)
    caption = f"{hidden} more differing recipe fields: see --json or --csv" if hidden > 0 else None
    table = Table(title=title, title_justify="left", header_style="bold", caption=caption, caption_justify="left")
    table.add_column("run", no_wrap=True)
    table.add_column("started", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("epochs", justify="right", no_wrap=True)
    columns = [(split, name) for split in (catalog.VALIDATION, catalog.TEST) for name in names]
    for split, name in columns:
        table.add_column(
            f"{'val' if split == 'validation' else split} {no_markup(name, 60)}", justify="right", no_wrap=True
        )
    table.add_column("seconds", justify="right", no_wrap=True)
    table.add_column("verdict", overflow="fold", max_width=52)
    params = shown
    for key in params:
        table.add_column(no_markup(key, 60), style="cyan", overflow="fold", max_width=28)
    styles = catalog.STATUS_COLOURS
    for record in records:
        cells = [
            no_markup(record.name),
            no_markup(record.started.replace("T", " ")),
            f"[{styles.get(record.status, 'white')}]{no_markup(record.status)}[/]",
            "" if record.epochs is None else str(record.epochs),
        ]
        for split, name in columns:
            value = record.split_metrics(split).get(name)
            cells.append("" if value is None else no_markup(fmt(value)))
        cells.append("" if record.seconds is None else f"{record.seconds:.1f}")
        cells.append(verdict_words(record.verdict(), markup=True))
        for key in params:
            value = record.recipe.get(key, "")
            if key.endswith("path") and isinstance(value, str) and value:
                value = Path(value).name  # the file name tells runs apart; --json/--csv keep the full path
            cells.append(no_markup(show(value)) if key in record.recipe else "")
        table.add_row(*cells)
    return table


# ----------------------------------------------------------------------------- compare
@dataclass
class Comparison:
    """Two runs side by side: the recipe fields that differ and every metric of both."""

    a: RunRecord
    b: RunRecord
    fields: list[tuple[str, Any, Any]]
    metrics: list[tuple[str, str, Any, Any]]  # split, metric, a, b


def compare_runs(path_a: Path, path_b: Path) -> Comparison:
    """The differing recipe fields and every metric of two runs."""
    a, b = read_run(resolve_run(path_a)), read_run(resolve_run(path_b))
    fields = [(k, a.recipe.get(k), b.recipe.get(k)) for k in differing_fields([a, b], ignore=())]
    metrics = []
    for split in (*SPLITS, "report"):
        left, right = a.split_metrics(split), b.split_metrics(split)
        for name in [*left, *(m for m in right if m not in left)]:
            va, vb = left.get(name), right.get(name)
            if isinstance(va, (int, float)) or isinstance(vb, (int, float)):
                metrics.append((split, name, va, vb))
    return Comparison(a, b, fields, metrics)


def comparison_tables(comparison: Comparison) -> list[Any]:
    """Rich tables of a comparison: the runs' facts, the differing recipe fields, the metrics with the better run."""
    from rich.table import Table

    from kproto.report.tables import fmt

    a, b = comparison.a, comparison.b
    label_a, label_b = no_markup(f"A: {a.name}/{a.stamp}"), no_markup(f"B: {b.name}/{b.stamp}")
    recipe = Table(title="Recipe fields that differ", title_justify="left", header_style="bold")
    recipe.add_column("field", style="cyan")
    recipe.add_column(label_a)
    recipe.add_column(label_b)
    for key, va, vb in comparison.fields:
        recipe.add_row(no_markup(key), no_markup(show(va)), no_markup(show(vb)))
    if not comparison.fields:
        recipe.add_row("(none)", "", "")
    metrics = Table(title="Metrics (delta = B − A)", title_justify="left", header_style="bold")
    for name in ("split", "metric"):
        metrics.add_column(name)
    metrics.add_column(label_a, justify="right")
    metrics.add_column(label_b, justify="right")
    metrics.add_column("delta", justify="right")
    metrics.add_column("better")
    for split, name, va, vb in comparison.metrics:
        delta, better = "", ""
        if isinstance(va, (int, float)) and isinstance(vb, (int, float)):
            diff = vb - va
            delta = f"{diff:+.4g}"
            if diff:
                better = "B" if (diff < 0) == lower_is_better(name) else "A"
        shown_a, shown_b = ("" if v is None else no_markup(fmt(v)) for v in (va, vb))
        metrics.add_row(split, no_markup(name), shown_a, shown_b, delta, better)
    facts = Table(title="Runs", title_justify="left", header_style="bold")
    for name in ("", "status", "epochs", "best epoch", "seconds", "verdict", "path"):
        facts.add_column(name)
    for label, record in (("A", a), ("B", b)):
        facts.add_row(
            label,
            no_markup(record.status),
            str(record.epochs or ""),
            str(record.best_epoch or ""),
            "" if record.seconds is None else f"{record.seconds:.1f}",
            verdict_words(record.verdict(), markup=True) or "(no baselines)",
            no_markup(record.path),
        )
    return [facts, recipe, metrics]
