"""Hyperparameter sweeps: every combination is an ordinary run, ranked by the monitored validation metric.

`--grid KEY=V1,V2` axes (values are YAML) make a cartesian product; `--random N` trains a seeded sample of it;
`--search optuna` lets Optuna's TPE sampler pick among the same values for `--trials N` trials.
Keras must be configured (kproto.core.backend.configure) before `run_sweep` is called.
"""

from __future__ import annotations

import itertools
import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kproto.core import catalog
from kproto.core.catalog import lower_is_better
from kproto.core.errors import KprotoError, RecipeError, TrainingInterrupted
from kproto.report.tables import Reporter
from kproto.runs import layout
from kproto.runs.index import parse_metric, read_history, show, to_csv
from kproto.runs.store import atomic_write_text


@dataclass
class Axis:
    """One swept field: its dotted key, the values as written (for --set) and as parsed YAML (for display)."""

    key: str
    texts: list[str]
    values: list[Any]


def split_values(text: str) -> list[str]:
    """Split on commas outside brackets, braces and quotes: '[64,32],[128]' → ['[64,32]', '[128]']."""
    parts, depth, quote, current = [], 0, "", ""
    for char in text:
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(current.strip())
            current = ""
            continue
        current += char
    parts.append(current.strip())
    return parts


def parse_grid(items: tuple[str, ...] | list[str]) -> list[Axis]:
    """`--grid` options → axes; each value is parsed as YAML."""
    import yaml

    axes: list[Axis] = []
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key or not text.strip():
            raise RecipeError(
                f"--grid expects FIELD=V1,V2,..., received {item!r}",
                field="--grid",
                hint="e.g. --grid train.optimizer.learning_rate=0.001,0.01 --grid model.units=[64],[128]",
            )
        texts = [t for t in split_values(text) if t]
        values = []
        for value_text in texts:
            try:
                values.append(yaml.safe_load(value_text))
            except yaml.YAMLError as exc:
                raise RecipeError(
                    f"--grid {key}: the value {value_text!r} is not valid YAML ({exc})", field="--grid"
                ) from None
        if any(axis.key == key for axis in axes):
            raise RecipeError(
                f"--grid {key} is given twice", field="--grid", hint="list all values in one --grid option"
            )
        axes.append(Axis(key, texts, values))
    if not axes:
        raise RecipeError("a sweep needs at least one --grid FIELD=V1,V2", field="--grid")
    return axes


def combinations(axes: list[Axis]) -> list[dict[str, int]]:
    """The cartesian product as {key: value index} mappings, in a stable order."""
    return [
        dict(zip((a.key for a in axes), indexes, strict=True))
        for indexes in itertools.product(*(range(len(a.texts)) for a in axes))
    ]


def sample(combos: list[dict[str, int]], count: int, seed: int) -> list[dict[str, int]]:
    """`count` distinct combinations drawn with a seeded generator (all of them when count is larger)."""
    if count >= len(combos):
        return list(combos)
    chosen = sorted(random.Random(seed).sample(range(len(combos)), count))
    return [combos[i] for i in chosen]


@dataclass
class Trial:
    """One combination's outcome."""

    number: int
    choice: dict[str, int]
    params: dict[str, Any]
    name: str = ""
    status: catalog.Status = catalog.PENDING
    run: Path | None = None
    value: float | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    epochs: int | None = None
    seconds: float | None = None
    error: str = ""


@dataclass
class SweepResult:
    folder: Path
    csv_path: Path
    trials: list[Trial]
    monitor: str
    axes: list[Axis]


def monitor_value(metrics: dict[str, Any], history: list[dict[str, Any]], monitor: str) -> float | None:
    """The monitored value of a finished run: its final evaluation (e.g. validation.loss), else the best epoch's."""
    split, name = parse_metric(monitor)
    value = (metrics.get(split) or {}).get(name) if isinstance(metrics.get(split), dict) else None
    if value is None:
        seen = [float(row[monitor]) for row in history if isinstance(row.get(monitor), (int, float))]
        if seen:
            value = min(seen) if lower_is_better(monitor) else max(seen)
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def ranked(trials: list[Trial], monitor: str) -> list[Trial]:
    """Best first by the monitored value; failed and pending trials last, in trial order."""
    done = [t for t in trials if t.value is not None]
    rest = [t for t in trials if t.value is None]
    done.sort(key=lambda t: t.value, reverse=not lower_is_better(monitor))
    return done + sorted(rest, key=lambda t: t.number)


def _test_metric(trial: Trial) -> tuple[str, Any]:
    test = trial.metrics.get("test") if isinstance(trial.metrics.get("test"), dict) else {}
    others = [k for k in test if k != "loss"]
    return (others[0], test[others[0]]) if others else ("loss", test.get("loss"))


def sweep_rows(trials: list[Trial], axes: list[Axis], monitor: str) -> list[dict[str, Any]]:
    rows = []
    for rank, trial in enumerate(ranked(trials, monitor), start=1):
        metric, value = _test_metric(trial)
        test = trial.metrics.get("test") if isinstance(trial.metrics.get("test"), dict) else {}
        rows.append(
            {
                "rank": rank if trial.value is not None else "",
                "trial": trial.number,
                "run": trial.name,
                "status": trial.status,
                **{axis.key: show(trial.params.get(axis.key)) for axis in axes},
                monitor: trial.value,
                "test_loss": test.get("loss"),
                **({f"test_{metric}": value} if metric != "loss" else {}),
                "epochs": trial.epochs,
                "seconds": trial.seconds,
                "path": str(trial.run or ""),
                "error": trial.error,
            }
        )
    return rows


def sweep_table(trials: list[Trial], axes: list[Axis], monitor: str, title: str = "Sweep") -> Any:
    """A rich leaderboard: rank, run, status, each swept value, the monitored value, test metrics, epochs, seconds."""
    from rich.table import Table

    from kproto.report.tables import fmt

    table = Table(title=title, title_justify="left", header_style="bold")
    rows = sweep_rows(trials, axes, monitor)
    columns = [c for c in (rows[0] if rows else {}) if c not in ("path", "error")]
    for row in rows[1:]:
        columns += [c for c in row if c not in columns and c not in ("path", "error")]
    for name in columns:
        right = name not in ("run", "status") and name not in {a.key for a in axes}
        table.add_column(
            name,
            justify="right" if right else "left",
            style="cyan" if name in {a.key for a in axes} else None,
            no_wrap=name == "run",
        )
    styles = catalog.STATUS_COLOURS
    for row in rows:
        cells = []
        for name in columns:
            value = row.get(name)
            if name == "status":
                cells.append(
                    f"[{styles.get(str(value), 'white')}]{value}[/]"
                    + (f" ({row['error'][:60]})" if row["error"] else "")
                )
            else:
                cells.append("" if value is None else (fmt(value) if isinstance(value, float) else str(value)))
        table.add_row(*cells)
    return table


class _TrialReporter(Reporter):
    """Forwards epoch progress of the current trial to the leaderboard's status line; learns the trial's run folder."""

    def __init__(self, board: _Board, trial: Trial, epochs: int) -> None:
        self.board, self.trial, self.epochs = board, trial, epochs

    def header(self, facts: dict[str, Any]) -> None:
        if facts.get("run"):  # the folder training made for this trial, known before its first epoch
            self.trial.run = Path(facts["run"])

    def epoch_end(self, row: dict[str, Any]) -> None:
        from kproto.report.tables import fmt

        shown = [f"{k} {fmt(v)}" for k, v in row.items() if k.startswith("val_") or k == "loss"][:4]
        self.board.status(
            f"trial {self.trial.number} ({self.trial.name}): epoch {row['epoch']}/{self.epochs}  " + "  ".join(shown)
        )


class _Board:
    """The live leaderboard on a terminal; elsewhere the sorted table is printed after each trial."""

    def __init__(self, console: Any, axes: list[Axis], monitor: str, title: str) -> None:
        self.console, self.axes, self.monitor, self.title = console, axes, monitor, title
        self.trials: list[Trial] = []
        self.text = ""
        self.live = None
        if console is not None and console.is_terminal:
            from rich.live import Live

            self.live = Live(self._view(), console=console, refresh_per_second=4, transient=True)
            self.live.start()

    def _view(self) -> Any:
        from rich.console import Group
        from rich.text import Text

        return Group(sweep_table(self.trials, self.axes, self.monitor, self.title), Text(self.text, style="yellow"))

    def status(self, text: str) -> None:
        self.text = text
        if self.live is not None:
            self.live.update(self._view())

    def update(self, trials: list[Trial], finished: Trial | None = None) -> None:
        self.trials = trials
        if self.live is not None:
            self.live.update(self._view())
        elif self.console is not None and finished is not None:
            self.console.print(
                sweep_table(trials, self.axes, self.monitor, f"{self.title} — after trial {finished.number}")
            )

    def close(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None


def _unique_folder(out: Path, name: str) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    Path(out).mkdir(parents=True, exist_ok=True)
    for attempt in range(1000):
        folder = Path(out) / (f"{name}-sweep-{stamp}" + (f"-{attempt}" if attempt else ""))
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            continue
    raise KprotoError(f"too many sweeps started in the same second under {out}", field="--out")


def run_sweep(
    recipe_path: Path,
    axes: list[Axis],
    overrides: tuple[str, ...] | list[str],
    out: Path,
    *,
    search: str = "grid",
    random_count: int | None = None,
    trials: int | None = None,
    console: Any = None,
    allow_code: bool = False,
    device: str = "auto",
    debug: bool = False,
) -> SweepResult:
    """Train each chosen combination as a run under `<out>/<name>-sweep-<stamp>/`, rank them, write the table."""
    from kproto.recipe import load_recipe

    base = load_recipe(recipe_path, overrides)  # errors in the recipe itself stop the sweep before any training
    name = base.recipe.name
    stopping = base.recipe.train.early_stopping
    monitor = stopping.monitor if stopping else "val_loss"
    combos = combinations(axes)
    if search == "grid" and random_count is not None:
        combos = sample(combos, random_count, base.recipe.seed)
    # every value must make a valid recipe; a key that's wrong for all of them stops the sweep at once
    problems: dict[str, KprotoError] = {}
    for axis in axes:
        for text in axis.texts:
            try:
                load_recipe(recipe_path, [*overrides, f"{axis.key}={text}"])
            except KprotoError as exc:
                problems[f"{axis.key}={text}"] = exc
        if len([k for k in problems if k.startswith(f"{axis.key}=")]) == len(axis.texts):
            raise problems[f"{axis.key}={axis.texts[0]}"]
    folder = _unique_folder(out, name)
    csv_path = folder / layout.SWEEP_TABLE
    board = _Board(
        console,
        axes,
        monitor,
        f"Sweep {name} · ranked by {monitor} ({'lower' if lower_is_better(monitor) else 'higher'} is better)",
    )
    results: list[Trial] = []
    done: dict[tuple[int, ...], Trial] = {}

    def write_csv() -> None:
        atomic_write_text(csv_path, to_csv(sweep_rows(results, axes, monitor)))

    def train_one(choice: dict[str, int]) -> Trial:
        number = len(results) + 1
        params = {a.key: a.values[choice[a.key]] for a in axes}
        trial = Trial(number, choice, params, name=f"{name}-{number:02d}", status=catalog.RUNNING)
        results.append(trial)
        board.update(results)
        key = tuple(choice[a.key] for a in axes)
        if key in done:  # Optuna may propose a combination again: reuse its result instead of retraining
            previous = done[key]
            trial.status, trial.run, trial.value = previous.status, previous.run, previous.value
            trial.metrics, trial.epochs, trial.seconds = previous.metrics, previous.epochs, previous.seconds
            trial.error = f"same as trial {previous.number}"
            board.update(results, trial)
            write_csv()
            return trial
        _train_trial(trial, recipe_path, overrides, axes, folder, board, monitor, allow_code, device, debug)
        done[key] = trial
        board.update(results, trial)
        write_csv()
        return trial

    try:
        if search == "optuna":
            _optuna_search(axes, trials or 10, base.recipe.seed, monitor, train_one)
        else:
            for choice in combos:
                train_one(choice)
    finally:
        board.close()
        write_csv()
    return SweepResult(folder, csv_path, results, monitor, axes)


def _train_trial(
    trial: Trial,
    recipe_path: Path,
    overrides: tuple[str, ...] | list[str],
    axes: list[Axis],
    folder: Path,
    board: _Board,
    monitor: str,
    allow_code: bool,
    device: str,
    debug: bool,
) -> None:
    from kproto.recipe import load_recipe

    began = time.time()
    try:
        loaded = load_recipe(recipe_path, [*overrides, *(f"{a.key}={a.texts[trial.choice[a.key]]}" for a in axes)])
        loaded.recipe.name = trial.name
        from kproto.training import train

        reporter = _TrialReporter(board, trial, loaded.recipe.train.epochs)
        board.status(f"trial {trial.number} ({trial.name}): starting")
        result = train(
            loaded.recipe,
            folder,
            reporter,
            allow_code=allow_code,
            device=device,
            recipe_dir=Path(recipe_path).resolve().parent,
        )
    except TrainingInterrupted:
        trial.status, trial.error = catalog.INTERRUPTED, "stopped by a signal"
        trial.seconds = round(time.time() - began, 1)
        raise
    except KprotoError as exc:
        trial.status, trial.error = catalog.FAILED, exc.message.splitlines()[0] if exc.message else type(exc).__name__
        trial.seconds = round(time.time() - began, 1)
        return
    except Exception as exc:  # a combination that breaks Keras must not end a long sweep
        if debug:
            raise
        trial.status, trial.error = (
            catalog.FAILED,
            f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}",
        )
        trial.seconds = round(time.time() - began, 1)
        return
    trial.run, trial.metrics, trial.status = result.run, result.metrics, catalog.COMPLETED
    trial.epochs = result.metrics.get("epochs")
    trial.seconds = result.metrics.get("seconds")
    trial.value = monitor_value(result.metrics, result.history or read_history(result.run / layout.HISTORY), monitor)


def optuna_direction(monitor: str) -> str:
    """Optuna's study direction for a monitored value: "minimize" where lower is better (as early stopping reads it)."""
    return "minimize" if lower_is_better(monitor) else "maximize"


def _optuna_search(axes: list[Axis], count: int, seed: int, monitor: str, train_one: Any) -> None:
    try:
        import optuna
    except ImportError:
        raise KprotoError(
            "--search optuna needs Optuna, which is not installed",
            field="--search",
            hint="pip install optuna  (or pip install 'kproto[sweep]')",
        ) from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction=optuna_direction(monitor), sampler=optuna.samplers.TPESampler(seed=seed))
    for _ in range(count):
        trial = study.ask()
        choice = {a.key: a.texts.index(trial.suggest_categorical(a.key, a.texts)) for a in axes}
        outcome = train_one(choice)
        if outcome.value is None:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        else:
            study.tell(trial, outcome.value)
