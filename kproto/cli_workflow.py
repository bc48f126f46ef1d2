"""Experiment-workflow commands: runs (list/compare), sweep, plot, new, list, summary; `train --mlflow`.

Only click is imported at module level so that `kproto --help` stays fast; `register(cli)` adds the commands.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import click

SECTIONS = ("families", "losses", "optimizers", "schedules", "activations", "metrics", "augmentations", "engines")


def _console(wide: bool = False) -> Any:
    """A rich console; `wide` tables get 240 columns when the output is not a terminal (files, pipes, tests)."""
    from rich.console import Console

    console = Console(highlight=False)
    if wide and not console.is_terminal:
        console = Console(highlight=False, width=240)
    return console


class _NameChoice(click.ParamType):
    """A choice among catalog names with Click's wording plus 'did you mean', and shell completion with help."""

    def __init__(self, name: str, source: str) -> None:
        self.name = name
        self.source = source

    def _choices(self) -> dict[str, str]:
        from kproto import catalog

        if self.source == "sections":
            return {s: f"{len(getattr(catalog, s.upper()))} names" for s in SECTIONS}
        return dict(getattr(catalog, self.source))

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        choices = self._choices()
        text = str(value).strip().lower()
        if self.source == "sections" and text not in choices:  # `kproto list family`, `kproto list loss`
            text = next((c for c in (f"{text}s", f"{text[:-1]}ies") if c in choices), text)
        if text in choices:
            return text
        from kproto.errors import not_one_of

        self.fail(not_one_of(value, list(choices)), param, ctx)

    def shell_complete(self, ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
        from click.shell_completion import CompletionItem

        return [
            CompletionItem(name, help=text) for name, text in self._choices().items() if name.startswith(incomplete)
        ]

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return self.name.upper()


def _setup(backend: str | None, device: str, recipe: Any = None) -> str:
    from kproto.cli import _setup_backend

    return _setup_backend(backend, device, recipe)


def _backend_option(default_help: str) -> Any:
    return click.option("--backend", type=click.Choice(["tensorflow", "jax", "torch"]), default=None, help=default_help)


_DEVICE = click.option(
    "--device", type=click.Choice(["auto", "cpu", "gpu"]), default="auto", show_default=True, help="Where to run."
)
_SET = click.option(
    "--set", "overrides", multiple=True, metavar="FIELD=VALUE", help="Override a recipe field (YAML value); repeatable."
)


# ----------------------------------------------------------------------------- runs
@click.command("runs")
@click.argument("directory", required=False, default=Path("runs"), type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--sort",
    "sort_key",
    metavar="METRIC",
    help="Sort by a metric (test.accuracy, val_loss, validation.loss, train.mae), seconds, epochs or name; "
    "losses/errors ascend, accuracy/auc/f1/r2 descend.",
)
@click.option(
    "--filter",
    "filters",
    multiple=True,
    metavar="TEXT",
    help="Keep runs whose name/path contains TEXT or that match FIELD=VALUE, FIELD>N, FIELD<N "
    "(recipe fields like model.units, metrics like test.accuracy, status); repeatable.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV instead of a table.")
@click.option(
    "--compare",
    nargs=2,
    type=click.Path(exists=True, path_type=Path),
    metavar="RUN_A RUN_B",
    help="Compare two runs: differing recipe fields and metric differences.",
)
@click.option(
    "--plot",
    type=click.Path(dir_okay=False, path_type=Path),
    help="With --compare: overlay both learning curves in this PNG.",
)
def runs_command(
    directory: Path,
    sort_key: str | None,
    filters: tuple[str, ...],
    as_json: bool,
    as_csv: bool,
    compare: tuple[Path, Path] | None,
    plot: Path | None,
) -> None:
    """List every run under DIRECTORY (default runs/), or --compare two runs."""
    import json

    from kproto import runlist

    if as_json and as_csv:
        raise click.UsageError("choose one of --json and --csv")
    if plot is not None and not compare:
        raise click.UsageError("--plot draws a comparison: use it with --compare RUN_A RUN_B")
    if compare:
        comparison = runlist.compare_runs(*compare)
        if as_json or as_csv:
            rows = [
                {
                    "split": s,
                    "metric": m,
                    "a": va,
                    "b": vb,
                    "delta": (vb - va) if isinstance(va, (int, float)) and isinstance(vb, (int, float)) else None,
                }
                for s, m, va, vb in comparison.metrics
            ]
            if as_json:
                click.echo(
                    json.dumps(
                        {
                            "a": str(comparison.a.path),
                            "b": str(comparison.b.path),
                            "fields": [{"field": k, "a": va, "b": vb} for k, va, vb in comparison.fields],
                            "metrics": rows,
                        },
                        indent=2,
                        default=str,
                    )
                )
            else:
                click.echo(runlist.to_csv(rows), nl=False)
        else:
            console = _console(wide=True)
            for table in runlist.comparison_tables(comparison):
                console.print(table)
        if plot is not None:
            from kproto.plots import compare_curves

            history_a, history_b = comparison.a.history(), comparison.b.history()
            if not history_a or not history_b:
                raise click.ClickException("both runs need a history.csv to plot their learning curves")
            compare_curves(history_a, history_b, plot, f"A {comparison.a.name}", f"B {comparison.b.name}")
            click.echo(f"wrote {plot}", err=True)
        return
    records = runlist.filter_runs(runlist.scan_runs(directory), filters)
    if sort_key:
        records = runlist.sort_runs(records, sort_key)
    params = runlist.differing_fields(records)
    if as_json:
        click.echo(json.dumps([r.to_dict(params) for r in records], indent=2, default=str))
    elif as_csv:
        click.echo(runlist.to_csv(runlist.runs_rows(records, params)), nl=False)
    elif not records:
        click.echo(f"no runs under {directory}" + (" match the filters" if filters else ""))
    else:
        title = f"Runs under {directory}" + (f" · sorted by {sort_key}" if sort_key else "")
        _console(wide=True).print(runlist.runs_table(records, params, title))


# ----------------------------------------------------------------------------- sweep
@click.command("sweep")
@click.argument("recipe", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--grid",
    "grid",
    multiple=True,
    required=True,
    metavar="FIELD=V1,V2,...",
    help="A field and its values (YAML, comma-separated; brackets keep lists whole: model.units=[64,32],[128]); "
    "repeatable.",
)
@click.option(
    "--random",
    "random_count",
    type=click.IntRange(min=1),
    metavar="N",
    help="Train a seeded sample of N grid combinations.",
)
@click.option(
    "--search",
    type=click.Choice(["grid", "optuna"]),
    default="grid",
    show_default=True,
    help="grid: every (or --random N) combination; optuna: TPE over the grid's values.",
)
@click.option(
    "--trials",
    type=click.IntRange(min=1),
    metavar="N",
    help="With --search optuna: trials to run (default: the grid size).",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("runs"),
    show_default=True,
    help="Folder for the sweep folder <name>-sweep-<stamp>/ (runs and sweep.csv).",
)
@_SET
@click.option("--allow-code", is_flag=True, help="Allow the recipe to run Python code (custom losses).")
@_backend_option("Keras backend (default: the recipe's train.backend, else chosen per family).")
@_DEVICE
@click.pass_context
def sweep_command(
    ctx: click.Context,
    recipe: Path,
    grid: tuple[str, ...],
    random_count: int | None,
    search: str,
    trials: int | None,
    out: Path,
    overrides: tuple[str, ...],
    allow_code: bool,
    backend: str | None,
    device: str,
) -> None:
    """Train RECIPE once per combination of --grid values and rank the runs by the monitored validation metric."""
    from kproto.recipe import load_recipe
    from kproto.sweep import combinations, parse_grid, run_sweep, sweep_table

    if random_count is not None and search != "grid":
        raise click.UsageError("--random N samples the grid; with --search optuna use --trials N")
    if trials is not None and search != "optuna":
        raise click.UsageError("--trials N is for --search optuna; for a sample of the grid use --random N")
    axes = parse_grid(grid)
    loaded = load_recipe(recipe, overrides)
    _setup(backend, device, loaded.recipe)
    console = _console(wide=True)
    count = len(combinations(axes))
    planned = (trials or count) if search == "optuna" else min(random_count or count, count)
    console.print(
        f"[bold]Sweep[/] {loaded.recipe.name}: {' × '.join(f'{a.key} ({len(a.texts)})' for a in axes)} = "
        f"{count} combinations; training {planned} ({search})"
    )
    result = run_sweep(
        recipe,
        axes,
        overrides,
        out,
        search=search,
        random_count=random_count,
        trials=trials or count,
        console=console,
        allow_code=allow_code,
        device=device,
        debug=bool((ctx.obj or {}).get("debug")),
    )
    console.print(
        sweep_table(
            result.trials, result.axes, result.monitor, f"Sweep {loaded.recipe.name} · ranked by {result.monitor}"
        )
    )
    console.print(f"[bold green]Sweep saved to[/] {result.folder}  (table: {result.csv_path})")
    if not any(t.status == "completed" for t in result.trials):
        raise click.exceptions.Exit(1)


# ----------------------------------------------------------------------------- plot
@click.command("plot")
@click.argument("run", type=click.Path(exists=True, path_type=Path))
@_backend_option("Keras backend used to load the model (default: tensorflow).")
@click.option("--trust", is_flag=True, help="Load models that contain code (Lambda layers). Only for files you trust.")
def plot_command(run: Path, backend: str | None, trust: bool) -> None:
    """(Re)make every plot that applies to RUN (curves, confusion, ROC/PR, residuals, forecast, reconstruction...)."""
    _setup(backend or "tensorflow", "auto")
    from kproto.plots import plot_run

    written, skipped = plot_run(run, trust=trust)
    for path in written:
        click.echo(f"wrote {path}")
    for reason in skipped:
        click.echo(f"skipped {reason}", err=True)


# ----------------------------------------------------------------------------- new
@click.command("new")
@click.argument("family", metavar="TYPE", type=_NameChoice("type", "FAMILIES"))
@click.option(
    "--data",
    type=click.Path(exists=True, path_type=Path),
    help="The data file to fill the recipe from (default: a shipped data set that suits TYPE).",
)
@click.option(
    "--target", metavar="COLUMN", help="The column to predict (default: label/target/class/y, else the last column)."
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the recipe here (never overwrites); default: print it.",
)
def new_command(family: str, data: Path | None, target: str | None, out: Path | None) -> None:
    """Write a commented starter recipe of model family TYPE (see `kproto list families`)."""
    from kproto.scaffold import write_starter

    text = write_starter(family, data, target, out)
    if out is None:
        click.echo(text, nl=False)
    else:
        click.echo(f"wrote {out}\n  check it:  kproto validate {out}\n  train it:  kproto train {out}")


# ----------------------------------------------------------------------------- list
@click.command("list")
@click.argument("section", required=False, type=_NameChoice("section", "sections"))
def list_command(section: str | None) -> None:
    """The names a recipe may use (families, losses, optimizers, schedules, activations, metrics, ...), one per line."""
    from rich.table import Table

    from kproto import catalog

    console = _console()
    for name in [section] if section else SECTIONS:
        table = Table(title=name.capitalize(), title_justify="left", header_style="bold")
        table.add_column("name", style="cyan", no_wrap=True)
        table.add_column("what it is")
        for key, text in getattr(catalog, name.upper()).items():
            table.add_row(key, text)
        console.print(table)


# ----------------------------------------------------------------------------- summary
def _layer_rows(model: Any, depth: int = 0) -> list[tuple[str, str, str, str]]:
    rows = []
    for layer in getattr(model, "layers", []):
        try:
            shape = str(tuple(layer.output.shape)).replace("None", "batch")
        except (AttributeError, ValueError, RuntimeError):
            shape = "?"
        try:
            params = f"{layer.count_params():,}"
        except (ValueError, RuntimeError):
            params = "?"
        rows.append(("  " * depth + layer.name, type(layer).__name__, shape, params))
        if getattr(layer, "layers", None) and depth < 3:
            rows += _layer_rows(layer, depth + 1)
    return rows


@click.command("summary")
@click.argument("recipe", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_SET
@_backend_option("Keras backend (default: the recipe's train.backend, else chosen per family).")
@_DEVICE
def summary_command(recipe: Path, overrides: tuple[str, ...], backend: str | None, device: str) -> None:
    """The model RECIPE builds (layers, output shapes, parameters), without training; reads the data for shapes."""
    from kproto.recipe import load_recipe

    loaded = load_recipe(recipe, overrides)
    _setup(backend, device, loaded.recipe)
    from rich.table import Table

    from kproto.data import load_dataset
    from kproto.models import build_model

    spec = loaded.recipe
    try:
        dataset = load_dataset(spec)
        try:
            from kproto.compile import model_spec_for
        except ImportError:  # pragma: no cover - older compile module
            model = build_model(spec.model, dataset.info)
        else:
            model = build_model(model_spec_for(spec), dataset.info)
    except Exception as exc:
        from kproto.cli import _locate
        from kproto.errors import KprotoError

        if isinstance(exc, KprotoError):
            raise _locate(exc, loaded) from None
        raise
    info = dataset.info
    table = Table(
        title=f"{spec.name}: {spec.model.type} model for {info.kind} input {tuple(info.input_shape)} → {info.task}"
        + (f" ({info.num_classes} classes)" if info.num_classes else ""),
        title_justify="left",
        header_style="bold",
    )
    for name in ("layer", "type", "output shape", "parameters"):
        table.add_column(name, justify="right" if name == "parameters" else "left")
    for row in _layer_rows(model):
        table.add_row(*row)
    console = _console()
    console.print(table)
    trainable = sum(int(_size(v)) for v in model.trainable_weights)
    total = model.count_params()
    console.print(f"parameters: {total:,} total, {trainable:,} trainable, {total - trainable:,} non-trainable")


def _size(variable: Any) -> int:
    size = 1
    for dim in variable.shape:
        size *= int(dim)
    return size


# ----------------------------------------------------------------------------- train --mlflow
def _log_mlflow(run: Path) -> None:
    """Log a run's recipe (flattened), per-epoch and final metrics and its files to the MLflow tracking store."""
    import os

    import mlflow

    from kproto.runlist import SPLITS, read_run, show

    record = read_run(run)
    mlflow.set_experiment(os.environ.get("MLFLOW_EXPERIMENT_NAME") or "kproto")
    with mlflow.start_run(run_name=f"{record.name}/{record.stamp}"):
        params = {key: show(value)[:500] for key, value in record.recipe.items()}
        items = list(params.items())
        for start in range(0, len(items), 100):
            mlflow.log_params(dict(items[start : start + 100]))
        for row in record.history():
            mlflow.log_metrics(
                {k: float(v) for k, v in row.items() if k != "epoch" and isinstance(v, float)}, step=int(row["epoch"])
            )
        for split in SPLITS:
            values = {
                f"{split}_{k}": float(v) for k, v in record.split_metrics(split).items() if isinstance(v, (int, float))
            }
            if values:
                mlflow.log_metrics(values)
        mlflow.set_tags({"kproto.status": record.status, "kproto.run_dir": str(record.path)})
        for name in ("model.keras", "recipe.yaml", "metrics.json", "preprocess.json", "history.csv", "curves.png"):
            if (record.path / name).is_file():
                mlflow.log_artifact(str(record.path / name))


def _add_mlflow_option(group: click.Group) -> None:
    """Give `kproto train` a --mlflow flag: after training, the run is logged to MLflow (needs mlflow installed)."""
    command = group.commands.get("train")
    if command is None or any(p.name == "mlflow" for p in command.params):
        return
    command.params.append(
        click.Option(
            ["--mlflow"], is_flag=True, help="Log params (flattened recipe), per-epoch metrics and the model to MLflow."
        )
    )
    original = command.callback

    @functools.wraps(original)
    def callback(*args: Any, mlflow: bool = False, **kwargs: Any) -> Any:
        if not mlflow:
            return original(*args, **kwargs)
        from kproto.backend import installed
        from kproto.errors import KprotoError

        if not installed("mlflow"):
            raise KprotoError(
                "--mlflow needs MLflow, which is not installed",
                field="--mlflow",
                hint="pip install mlflow  (then set MLFLOW_TRACKING_URI, or runs go to ./mlruns)",
            )
        resume = kwargs.get("resume")
        if resume is not None:
            folder, before = None, set()
        else:
            from kproto.recipe import load_recipe

            name = load_recipe(kwargs["recipe"], kwargs.get("overrides", ())).recipe.name
            folder = Path(kwargs.get("out") or "runs") / name
            before = set(folder.iterdir()) if folder.is_dir() else set()
        try:
            return original(*args, **kwargs)
        finally:
            if resume is not None:
                run = Path(resume)
            else:
                new = sorted(p for p in (set(folder.iterdir()) if folder.is_dir() else set()) - before if p.is_dir())
                run = new[-1] if new else None
            if run is not None:
                _log_mlflow(run)
                click.echo(f"logged {run} to MLflow", err=True)

    command.callback = callback


def register(group: click.Group) -> None:
    """Add the workflow commands to the `kproto` group (and --mlflow to its train command)."""
    for command in (runs_command, sweep_command, plot_command, new_command, list_command, summary_command):
        group.add_command(command)
    _add_mlflow_option(group)
