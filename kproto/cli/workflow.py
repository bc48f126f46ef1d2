"""The experiment-workflow commands: runs (list/compare), sweep, plot, new, list, summary.

Only click is imported at module level so that `kproto --help` and shell completion stay fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from kproto.cli.common import DEVICE, SET, backend_option, console, locate, setup_backend, trust_option
from kproto.core import catalog
from kproto.runs import layout

SECTIONS = (
    "families",
    "losses",
    "optimizers",
    "schedules",
    "activations",
    "metrics",
    "baselines",
    "augmentations",
    "engines",
)


def describe(entry: Any) -> str:
    """The one-line description of a catalog entry (a text, or a Family/Metric with `.description`)."""
    return entry if isinstance(entry, str) else str(getattr(entry, "description", entry))


class NameChoice(click.ParamType):
    """A choice among catalog names with Click's wording plus 'did you mean', and shell completion with help."""

    def __init__(self, name: str, source: str) -> None:
        self.name = name
        self.source = source

    def _choices(self) -> dict[str, str]:
        from kproto.core import catalog

        if self.source == "sections":
            return {s: f"{len(getattr(catalog, s.upper()))} names" for s in SECTIONS}
        return {name: describe(entry) for name, entry in getattr(catalog, self.source).items()}

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        choices = self._choices()
        text = str(value).strip().lower()
        if self.source == "sections" and text not in choices:  # `kproto list family`, `kproto list loss`
            text = next((c for c in (f"{text}s", f"{text[:-1]}ies") if c in choices), text)
        if text in choices:
            return text
        from kproto.core.errors import not_one_of

        self.fail(not_one_of(value, list(choices)), param, ctx)

    def shell_complete(self, ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
        from click.shell_completion import CompletionItem

        return [
            CompletionItem(name, help=text) for name, text in self._choices().items() if name.startswith(incomplete)
        ]

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return self.name.upper()


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

    from kproto.runs import index

    if as_json and as_csv:
        raise click.UsageError("choose one of --json and --csv")
    if plot is not None and not compare:
        raise click.UsageError("--plot draws a comparison: use it with --compare RUN_A RUN_B")
    if compare:
        comparison = index.compare_runs(*compare)
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
                            "verdict": {"a": comparison.a.verdict(), "b": comparison.b.verdict()},
                        },
                        indent=2,
                        default=str,
                    )
                )
            else:
                click.echo(index.to_csv(rows), nl=False)
        else:
            screen = console(wide=True)
            for table in index.comparison_tables(comparison):
                screen.print(table)
        if plot is not None:
            from kproto.report.plots import compare_curves

            history_a, history_b = comparison.a.history(), comparison.b.history()
            if not history_a or not history_b:
                raise click.ClickException(f"both runs need a {layout.HISTORY} to plot their learning curves")
            compare_curves(history_a, history_b, plot, f"A {comparison.a.name}", f"B {comparison.b.name}")
            click.echo(f"wrote {plot}", err=True)
        return
    records = index.filter_runs(index.scan_runs(directory), filters)
    if sort_key:
        records = index.sort_runs(records, sort_key)
    params = index.differing_fields(records)
    if as_json:
        click.echo(json.dumps([r.to_dict(params) for r in records], indent=2, default=str))
    elif as_csv:
        click.echo(index.to_csv(index.runs_rows(records, params)), nl=False)
    elif not records:
        click.echo(f"no runs under {directory}" + (" match the filters" if filters else ""))
    else:
        title = f"Runs under {directory}" + (f" · sorted by {sort_key}" if sort_key else "")
        console(wide=True).print(index.runs_table(records, params, title))


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
    help=f"Folder for the sweep folder <name>-sweep-<stamp>/ (runs and {layout.SWEEP_TABLE}).",
)
@SET
@click.option("--allow-code", is_flag=True, help="Allow the recipe to run Python code (custom losses).")
@backend_option()
@DEVICE
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
    from kproto.commands.sweep import combinations, parse_grid, run_sweep, sweep_table
    from kproto.recipe import load_recipe

    if random_count is not None and search != "grid":
        raise click.UsageError("--random N samples the grid; with --search optuna use --trials N")
    if trials is not None and search != "optuna":
        raise click.UsageError("--trials N is for --search optuna; for a sample of the grid use --random N")
    axes = parse_grid(grid)
    loaded = load_recipe(recipe, overrides)
    setup_backend(backend, device, loaded.recipe)
    screen = console(wide=True)
    count = len(combinations(axes))
    planned = (trials or count) if search == "optuna" else min(random_count or count, count)
    screen.print(
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
        console=screen,
        allow_code=allow_code,
        device=device,
        debug=bool((ctx.obj or {}).get("debug")),
    )
    screen.print(
        sweep_table(
            result.trials, result.axes, result.monitor, f"Sweep {loaded.recipe.name} · ranked by {result.monitor}"
        )
    )
    screen.print(f"[bold green]Sweep saved to[/] {result.folder}  (table: {result.csv_path})")
    if not any(t.status == catalog.COMPLETED for t in result.trials):
        raise click.exceptions.Exit(1)


# ----------------------------------------------------------------------------- plot
@click.command("plot")
@click.argument("run", type=click.Path(exists=True, path_type=Path))
@backend_option("Keras backend used to load the model (default: tensorflow).")
@trust_option("Load models that contain code (Lambda layers). Only for files you trust.")
def plot_command(run: Path, backend: str | None, trust: bool) -> None:
    """(Re)make every plot that applies to RUN (curves, confusion, ROC/PR, residuals, forecast, reconstruction...)."""
    setup_backend(backend or "tensorflow", "auto")
    from kproto.commands.figures import plot_run

    written, skipped = plot_run(run, trust=trust)
    for path in written:
        click.echo(f"wrote {path}")
    for reason in skipped:
        click.echo(f"skipped {reason}", err=True)


# ----------------------------------------------------------------------------- new
@click.command("new")
@click.argument("family", metavar="TYPE", type=NameChoice("type", "FAMILIES"))
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
    from kproto.commands.scaffold import write_starter

    text = write_starter(family, data, target, out)
    if out is None:
        click.echo(text, nl=False)
    else:
        click.echo(f"wrote {out}\n  check it:  kproto validate {out}\n  train it:  kproto train {out}")


# ----------------------------------------------------------------------------- list
@click.command("list")
@click.argument("section", required=False, type=NameChoice("section", "sections"))
def list_command(section: str | None) -> None:
    """The names a recipe may use (families, losses, optimizers, schedules, activations, metrics, ...), one per line."""
    from rich.markup import escape
    from rich.table import Table

    from kproto.core import catalog

    screen = console()
    for name in [section] if section else SECTIONS:
        table = Table(title=name.capitalize(), title_justify="left", header_style="bold")
        table.add_column("name", style="cyan", no_wrap=True)
        table.add_column("what it is")
        for key, entry in getattr(catalog, name.upper()).items():
            traits = f"\n[dim]{family_traits(entry)}[/dim]" if name == "families" else ""
            table.add_row(key, escape(describe(entry)) + traits)
        screen.print(table)


def family_traits(entry: Any) -> str:
    """A family's input kinds and whether it takes columns of several kinds and several targets (`kproto list`)."""
    answer = {True: "yes", False: "no"}
    return (
        f"reads: {', '.join(entry.inputs)} · columns of several kinds: {answer[entry.extra_inputs]} · "
        f"several targets: {answer[entry.multi_output]}"
    )


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
@SET
@backend_option()
@DEVICE
def summary_command(recipe: Path, overrides: tuple[str, ...], backend: str | None, device: str) -> None:
    """The model RECIPE builds (layers, output shapes, parameters), without training; reads the data for shapes."""
    from kproto.recipe import load_recipe

    loaded = load_recipe(recipe, overrides)
    setup_backend(backend, device, loaded.recipe)
    from rich.table import Table

    from kproto.data import load_dataset
    from kproto.models import build_model

    spec = loaded.recipe
    try:
        dataset = load_dataset(spec)
        try:
            from kproto.training.compile import model_spec_for
        except ImportError:  # pragma: no cover - older compile module
            model = build_model(spec.model, dataset.info)
        else:
            model = build_model(model_spec_for(spec), dataset.info)
    except Exception as exc:
        from kproto.core.errors import KprotoError

        if isinstance(exc, KprotoError):
            raise locate(exc, loaded) from None
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
    screen = console()
    screen.print(table)
    trainable = sum(int(_size(v)) for v in model.trainable_weights)
    total = model.count_params()
    screen.print(f"parameters: {total:,} total, {trainable:,} trainable, {total - trainable:,} frozen (non-trainable)")


def _size(variable: Any) -> int:
    size = 1
    for dim in variable.shape:
        size *= int(dim)
    return size
