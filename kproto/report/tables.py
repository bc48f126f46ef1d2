"""Rich renderables for every command (tables, panels), and the live training view.

Functions here return renderables; the CLI prints them. Nothing here imports Keras.
"""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from kproto.core.text import no_markup

SPLITS = ("train", "validation", "test")


def fmt(value: Any) -> str:
    if isinstance(value, float):
        if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e5):
            return f"{value:.3e}"
        return f"{value:.4f}"
    return str(value)


def header_panel(facts: dict[str, Any]) -> Panel:
    """The run header: recipe, data, task, model size, device, backend, precision."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold cyan", no_wrap=True)
    grid.add_column()
    for key, value in facts.items():
        if key != "recipe":
            grid.add_row(key, no_markup(value, None))  # file names and recipe values are shown as text
    title = f"kproto train · {no_markup(facts.get('recipe', ''))}"
    return Panel(grid, title=title, title_align="left", border_style="cyan")


def epoch_columns(row: dict[str, Any]) -> list[str]:
    names = [k for k in row if k not in ("epoch", "learning_rate", "seconds")]
    train = [k for k in names if not k.startswith("val_")]
    ordered = []
    for name in train:
        ordered.append(name)
        if f"val_{name}" in names:
            ordered.append(f"val_{name}")
    ordered += [k for k in names if k not in ordered]
    return ["epoch", *ordered, "learning_rate", "seconds"]


def epoch_table(history: list[dict[str, Any]], title: str = "Epochs") -> Table:
    """A row per epoch: each loss and metric, train and validation, the learning rate and seconds."""
    table = Table(title=title, title_justify="left", header_style="bold")
    if not history:
        return table
    columns = epoch_columns(history[-1])
    for name in columns:
        table.add_column(name.replace("learning_rate", "lr"), justify="right")
    for row in history:
        table.add_row(*(fmt(row.get(c, "")) for c in columns))
    return table


def metrics_table(metrics: dict[str, Any], title: str = "Final metrics") -> Table:
    """Rows: metrics; columns: train, validation, test."""
    table = Table(title=title, title_justify="left", header_style="bold")
    table.add_column("metric")
    splits = [s for s in SPLITS if metrics.get(s)]
    for split in splits:
        table.add_column(split, justify="right")
    flat = {s: flat_split(metrics[s]) for s in splits}
    names: list[str] = []
    for split in splits:
        names += [k for k in flat[split] if k not in names]
    for name in names:
        table.add_row(name, *(fmt(flat[s].get(name, "")) for s in splits))
    return table


def flat_split(values: dict[str, Any]) -> dict[str, Any]:
    """A split's numbers in one level: a block per target (several targets) becomes rows `target metric`."""
    flat: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, dict):
            flat.update({f"{key} {inner}": v for inner, v in value.items()})
        else:
            flat[key] = value
    return flat


def splits_legend(metrics: dict[str, Any]) -> str:
    """One dim line on what the validation column is worth when its rows also chose something
    (metrics.json's `validation_used_for`): "" when they chose nothing or the run has no test split."""
    uses = metrics.get("validation_used_for")
    if not isinstance(uses, list) or not uses or not metrics.get("test") or not metrics.get("validation"):
        return ""
    chose = [no_markup(use, 40) for use in uses if isinstance(use, str)]
    if not chose:
        return ""
    listed = chose[0] if len(chose) == 1 else f"{', '.join(chose[:-1])} and {chose[-1]}"
    return (
        f"[dim]validation: these rows also chose {listed}, so its numbers can look better than new rows would "
        "make them; test: rows held out from every choice[/]"
    )


def legend_text(names: list[str], legend: dict[str, str]) -> str:
    """What each shown metric measures, one dim line each ("" when none is described)."""
    return "\n".join(f"[dim]{name}: {legend[name]}[/]" for name in names if legend.get(name))


def baselines_table(
    baselines: dict[str, Any], info: dict[str, Any] | None = None, model: dict[str, Any] | None = None
) -> Table:
    """This model and each baseline, one row each, on the same rows (`info`: metrics.json's baselines_info).

    Runs from before the baselines block stored one number per name: shown as it is."""
    info = info or {}
    split = info.get("split", "test")
    rows = f"the {info['rows']} {split} rows" if info.get("rows") else f"the {split} split"
    title = f"Baselines on {rows} (fitted on the training split)"
    table = Table(title=title, title_justify="left", header_style="bold")
    table.add_column("")
    flat = {name: value for name, value in baselines.items() if not isinstance(value, dict)}
    nested = {name: value for name, value in baselines.items() if isinstance(value, dict)}
    names: list[str] = []
    for scores in nested.values():
        names += [m for m in scores if m not in names]
    if flat and not nested:
        names = ["value"]
    for name in names:
        table.add_column(no_markup(str(name)), justify="right")
    if model and nested:
        table.add_row("this model", *(fmt(model[n]) if n in model else "" for n in names), style="bold")
    for name, scores in nested.items():
        table.add_row(no_markup(name.replace("_", " ")), *(fmt(scores[n]) if n in scores else "" for n in names))
    for name, value in flat.items():
        table.add_row(no_markup(name.replace("_", " ")), fmt(value))
    notes = []
    reasons = info.get("sampled_reason")
    reasons = reasons if isinstance(reasons, dict) else {}  # runs saved before it was recorded: sampled for time
    for name, rows_used in info.get("sampled", {}).items():
        why = reasons.get(name, "time budget")
        notes.append(
            f"{name.replace('_', ' ')}: fitted on a sample of {rows_used} training rows ({no_markup(str(why))})"
        )
    for name, why in info.get("stopped", {}).items():
        notes.append(f"{name.replace('_', ' ')}: {why}")
    for key in ("skipped", "failed"):
        for name, why in info.get(key, {}).items():
            notes.append(f"{name.replace('_', ' ')} {key}: {why}")
    if info.get("note"):
        notes.append(info["note"])
    if notes:
        table.caption = "\n".join(no_markup(note, None) for note in notes)  # from a run folder: never markup
        table.caption_justify = "left"
    return table


def verdict_text(verdict: dict[str, Any] | None) -> str:
    """The verdict in words with rich markup: green when the model wins, bold yellow (a warning) when not."""
    if not verdict:
        return ""
    message = no_markup(verdict.get("message", ""), None)  # read from a run folder: never markup or control codes
    if verdict.get("model_wins"):
        return f"[green]Verdict:[/] {message}"
    return f"[bold yellow]Verdict: a baseline wins.[/] [yellow]{message}[/]"


def decisions_summary(metrics: dict[str, Any]) -> Table | None:
    """The run's decisions as training recorded them: the threshold (and where it was chosen) with its effect on
    the test split, and calibration with its test ECE before → after; None when the run has neither."""
    threshold, calibration = metrics.get("threshold"), metrics.get("calibration")
    if not isinstance(threshold, dict) and not (isinstance(calibration, dict) and calibration.get("method") != "none"):
        return None
    table = Table(title="Decisions (every number above uses them)", title_justify="left", header_style="bold")
    table.add_column("decision")
    table.add_column("value")
    table.add_column("effect on the test split", justify="right")
    if isinstance(threshold, dict):
        where = "chosen on validation" if threshold.get("chosen_on") == "validation" else "set in the recipe"
        effect = ""
        if threshold.get("test_at_threshold") is not None:
            effect = (
                f"{threshold['metric']} {fmt(threshold.get('test_at_0.5'))} at 0.5 → "
                f"{fmt(threshold['test_at_threshold'])}"
            )
        positive = metrics.get("positive_class")
        label = f" on p({positive})" if positive is not None else ""
        table.add_row("threshold", f"{threshold['value']:.4g}{label} ({where})", effect)
    if isinstance(calibration, dict) and calibration.get("method") != "none":
        temperature = calibration.get("temperature", 1.0)
        where = "chosen on validation" if calibration.get("chosen_on") == "validation" else "set in the recipe"
        effect = ""
        before, after = calibration.get("ece_before"), calibration.get("ece_after")
        if before is not None and after is not None:
            change = "worse" if after > before else "better" if after < before else "unchanged"
            effect = f"ECE {fmt(before)} → {fmt(after)} ({change})"
        if temperature == 1.0:  # auto: scaling did not lower the validation ECE, so none was kept
            table.add_row("calibration", f"none kept: temperature scaling did not help ({where})", effect)
        else:
            table.add_row("calibration", f"temperature {temperature:.3f} ({where})", effect)
    return table


def single_metrics_table(metrics: dict[str, float], title: str) -> Table:
    table = Table(title=title, title_justify="left", header_style="bold")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in metrics.items():
        table.add_row(name, fmt(value))
    return table


def decisions_table(decisions: dict[str, Any]) -> Table:
    """Calibration error before and after, the threshold metric at 0.5 and at the run's threshold, and the
    empirical coverage of conformal sets or intervals (what `kproto evaluate` adds for classifiers and regression)."""
    table = Table(title="Decisions on these rows", title_justify="left", header_style="bold")
    table.add_column("what")
    table.add_column("value", justify="right")
    calibration = decisions.get("calibration")
    if calibration:
        method = calibration["method"]
        if method == "temperature":
            method = f"temperature {calibration['temperature']:.3f}"
        if calibration.get("chosen_on"):
            method += f" (chosen on {calibration['chosen_on']})"
        table.add_row("calibration", method)
        table.add_row(
            "ECE, uncalibrated → calibrated", f"{fmt(calibration['ece_before'])} → {fmt(calibration['ece_after'])}"
        )
    threshold = decisions.get("threshold")
    if threshold:
        where = f" (chosen on {threshold['chosen_on']})" if threshold.get("chosen_on") else ""
        table.add_row("threshold", fmt(threshold["value"]) + where)
        table.add_row(
            f"{threshold['metric']} at 0.5 → at threshold",
            f"{fmt(threshold['at_0.5'])} → {fmt(threshold['at_threshold'])}",
        )
    conformal = decisions.get("conformal")
    if conformal:
        table.add_row("coverage asked → reached", f"{fmt(conformal['asked'])} → {fmt(conformal['coverage'])}")
        if "mean_set_size" in conformal:
            table.add_row("mean prediction-set size", fmt(conformal["mean_set_size"]))
        else:
            table.add_row("mean interval width", fmt(conformal["mean_width"]))
    return table


def attack_table(attack: dict[str, Any]) -> Table:
    """Metrics clean and under attack, side by side, with the attack and its epsilon (and units) in the title."""
    steps = f", {attack['steps']} steps" if attack["method"] == "pgd" else ""
    title = f"Under attack: {attack['method'].upper()}, epsilon {attack['epsilon']:g} in {attack['space']}{steps}"
    table = Table(title=title, title_justify="left", header_style="bold")
    for name in ("metric", "clean", "adversarial", "change"):
        table.add_column(name, justify="left" if name == "metric" else "right")
    for name, clean in attack["clean"].items():
        attacked = attack["adversarial"].get(name)
        change = fmt(attacked - clean) if attacked is not None else ""
        table.add_row(name, fmt(clean), fmt(attacked) if attacked is not None else "", change)
    table.caption = f"{attack['rows']} rows"
    return table


def per_class_table(report: dict[str, Any], source: str = "test split") -> Table:
    at = f"threshold {report['threshold']:.4g} on p({report['classes'][-1]})" if "threshold" in report else "argmax"
    table = Table(title=f"Per class ({source}, decided at {at})", title_justify="left", header_style="bold")
    for name in ("class", "precision", "recall", "f1", "support"):
        table.add_column(name, justify="left" if name == "class" else "right")
    for name, row in report["per_class"].items():
        table.add_row(name, fmt(row["precision"]), fmt(row["recall"]), fmt(row["f1"]), str(row["support"]))
    table.add_row("macro F1", "", "", fmt(report["macro_f1"]), "", style="bold")
    return table


def confusion_table(report: dict[str, Any]) -> Table:
    table = Table(title="Confusion matrix (rows: true, columns: predicted)", title_justify="left", header_style="bold")
    table.add_column("")
    for name in report["classes"]:
        table.add_column(name, justify="right")
    for name, row in zip(report["classes"], report["confusion"]):
        table.add_row(name, *(str(v) for v in row))
    return table


class Reporter:
    """Receives training events. The silent base is for library use and tests."""

    shows_progress = False  # whether `progress` shows anything (engines skip waiting for each chunk when not)

    def header(self, facts: dict[str, Any]) -> None: ...
    def epoch_start(self, epoch: int, epochs: int, steps: int) -> None: ...
    def progress(self, done: int, total: int) -> None: ...
    def epoch_end(self, row: dict[str, Any]) -> None: ...
    def message(self, text: str) -> None: ...
    def close(self) -> None: ...


class RichReporter(Reporter):
    """Header, a progress bar within each epoch and a growing epoch table (live on a terminal)."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.history: list[dict[str, Any]] = []
        self.live_mode = console.is_terminal
        self.shows_progress = self.live_mode  # the bar is drawn only live, on a terminal
        self.bar = Progress(
            TextColumn("epoch {task.fields[epoch]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("steps"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self.task = None
        self.live: Live | None = None
        self.last_refresh = 0.0

    def header(self, facts: dict[str, Any]) -> None:
        self.console.print(header_panel(facts))
        if self.live_mode:
            self.live = Live(self._view(), console=self.console, refresh_per_second=8, transient=True)
            self.live.start()

    def _view(self) -> Group:
        return Group(epoch_table(self.history[-15:]), self.bar)

    def epoch_start(self, epoch: int, epochs: int, steps: int) -> None:
        if self.task is not None:
            self.bar.remove_task(self.task)
        self.task = self.bar.add_task("train", total=steps, epoch=f"{epoch}/{epochs}")

    def progress(self, done: int, total: int) -> None:
        if self.task is not None and self.live is not None:
            self.bar.update(self.task, completed=done, total=total)

    def epoch_end(self, row: dict[str, Any]) -> None:
        self.history.append(row)
        if self.live is not None:
            self.live.update(self._view())
        else:
            parts = [f"{k} {fmt(v)}" for k, v in row.items() if k != "epoch"]
            self.console.print(f"epoch {row['epoch']}: " + "  ".join(parts), highlight=False)

    def message(self, text: str) -> None:
        if self.live is not None:
            self.live.console.print(f"[yellow]{text}[/]")
        else:
            self.console.print(text, style="yellow")

    def close(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None
            if self.history:
                self.console.print(epoch_table(self.history))
        time.sleep(0)


def forecast_table(metrics: dict[str, Any]) -> Table:
    """A window run's test forecasts beside its baselines on the same windows: MAE, RMSE, sMAPE (%) and MASE,
    averaged over every window and step; the verdict as the caption."""
    forecast = metrics.get("forecast", {})
    windows, horizon = forecast.get("windows", 0), forecast.get("horizon", 1)
    table = Table(
        title=f"Forecasts ({windows} test window(s) × {horizon} step(s), averaged over every step)",
        title_justify="left",
        header_style="bold",
    )
    table.add_column("forecaster")
    names = ("mae", "rmse", "smape", "mase")
    for name in names:
        table.add_column({"smape": "sMAPE %", "mase": "MASE"}.get(name, name.upper()), justify="right")
    table.add_row("this model", *(fmt(forecast.get(n, "")) for n in names), style="bold")
    for baseline, scores in (metrics.get("baselines") or {}).items():
        if isinstance(scores, dict):
            table.add_row(baseline.replace("_", " "), *(fmt(scores.get(n, "")) for n in names))
    verdict = metrics.get("verdict")
    if verdict:
        table.caption = verdict["message"]
    return table


def forecast_steps_table(forecast: dict[str, Any]) -> Table:
    """The model's test scores at each step of the horizon."""
    table = Table(title="Forecast error by step ahead (test windows)", title_justify="left", header_style="bold")
    for column in ("step", "MAE", "RMSE", "sMAPE %", "MASE"):
        table.add_column(column, justify="right")
    for row in forecast.get("per_step", []):
        table.add_row(str(row["step"]), *(fmt(row[n]) for n in ("mae", "rmse", "smape", "mase")))
    return table
