"""The `kproto` command line: parse, call one library function, render. Heavy imports stay inside commands."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from kproto.errors import KprotoError


class KprotoGroup(click.Group):
    """Turns KprotoError into a message and its exit code, anything else into exit 1 with a --debug hint."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.exceptions.Abort):
            raise
        except KprotoError as exc:
            if (ctx.obj or {}).get("debug"):
                raise
            _print_error(exc)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            ctx.exit(130)
        except Exception as exc:  # noqa: BLE001 - the last line of defence
            if (ctx.obj or {}).get("debug"):
                raise
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            click.echo(f"Unexpected error: {type(exc).__name__}: {first}", err=True)
            click.echo("This is a bug or an unhandled case; rerun with --debug for the traceback.", err=True)
            ctx.exit(1)


def _print_error(exc: KprotoError) -> None:
    where = exc.where()
    click.secho(f"{exc.title}" + (f" in {where}" if where else "") + ":", fg="red", bold=True, err=True)
    for line in exc.message.splitlines():
        click.echo(f"  {line}", err=True)
    if exc.hint:
        click.echo(f"  Hint: {exc.hint}", err=True)


def _console() -> Any:
    from rich.console import Console

    return Console(highlight=False)


def _locate(exc: KprotoError, loaded: Any) -> KprotoError:
    """Point a data or build error at the recipe line of the field it names."""
    if exc.field and exc.line is None and loaded is not None and not exc.field.startswith("--"):
        file, line = loaded.source.locate(
            tuple(int(p) if p.isdigit() else p for p in exc.field.replace("[", ".").replace("]", "").split("."))
        )
        if file and not exc.file:
            exc.file, exc.line = file, line
        elif file and line:
            exc.message = f"{exc.message} (recipe {file}, line {line})"
    return exc


def _loaded_backend() -> str | None:
    """The backend Keras already runs on in this process (library or test use), if any."""
    keras = sys.modules.get("keras")
    return keras.backend.backend() if keras is not None else None


def _setup_backend(backend: str | None, device: str, recipe: Any = None) -> str:
    from kproto.backend import choose_backend, configure

    chosen = choose_backend(backend, recipe)
    configure(chosen, device)
    return chosen


BACKEND_OPTION = click.option(
    "--backend",
    type=click.Choice(["tensorflow", "jax", "torch"]),
    default=None,
    help="Keras backend (default: the recipe's train.backend, else chosen per family).",
)
DEVICE_OPTION = click.option(
    "--device", type=click.Choice(["auto", "cpu", "gpu"]), default="auto", show_default=True, help="Where to run."
)
TRUST_OPTION = click.option(
    "--trust", is_flag=True, help="Load models that contain code (Lambda layers, legacy .h5). Only for files you trust."
)


@click.group(cls=KprotoGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="kproto")
@click.option("--debug", is_flag=True, help="Show full tracebacks.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Turn a short YAML recipe into a trained, evaluated, exportable Keras 3 model.

    \b
    kproto train recipes/digits_mlp.yaml
    kproto evaluate runs/digits-mlp/<stamp>
    kproto export runs/digits-mlp/<stamp> --format onnx
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


# ----------------------------------------------------------------------------- train
@cli.command()
@click.argument("recipe", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--set", "overrides", multiple=True, metavar="FIELD=VALUE", help="Override a recipe field (YAML value); repeatable."
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("runs"),
    show_default=True,
    help="Folder for run directories.",
)
@click.option(
    "--resume",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Continue this run directory from its last epoch.",
)
@click.option("--allow-code", is_flag=True, help="Allow the recipe to run Python code (custom losses).")
@BACKEND_OPTION
@DEVICE_OPTION
def train(
    recipe: Path | None,
    overrides: tuple[str, ...],
    out: Path,
    resume: Path | None,
    allow_code: bool,
    backend: str | None,
    device: str,
) -> None:
    """Train RECIPE and write a run directory under --out."""
    from kproto.recipe import load_recipe

    if resume is not None:
        recipe_path = resume / "recipe.yaml"
        if recipe is not None:
            raise click.UsageError("give either RECIPE or --resume RUN_DIR, not both")
        if not recipe_path.exists():
            raise KprotoError(f"{resume} has no recipe.yaml; it is not a kproto run", field="--resume")
        bad = [o for o in overrides if not o.startswith("train.epochs=")]
        if bad:
            raise click.UsageError(f"with --resume only --set train.epochs=N is allowed, not {bad[0]!r}")
    elif recipe is None:
        raise click.UsageError("missing RECIPE (or --resume RUN_DIR)")
    else:
        recipe_path = recipe
    loaded = load_recipe(recipe_path, overrides)
    if resume is not None:
        loaded.recipe.name = resume.parent.name
        if backend is None and (resume / "metrics.json").exists():  # continue on the backend the run started on
            from kproto.runs import read_json

            backend = read_json(resume / "metrics.json").get("backend")
    _setup_backend(backend, device, loaded.recipe)
    from kproto.report import RichReporter, baselines_table, metrics_table, per_class_table

    console = _console()
    reporter = RichReporter(console)
    try:
        from kproto.train import train as run_training

        result = run_training(
            loaded.recipe,
            out,
            reporter,
            resume=resume,
            allow_code=allow_code,
            device=device,
            recipe_dir=recipe_path.resolve().parent,
        )
    except KprotoError as exc:
        reporter.close()
        raise _locate(exc, loaded) from None
    finally:
        reporter.close()
    console.print(metrics_table(result.metrics))
    if result.metrics.get("baselines"):
        console.print(baselines_table(result.metrics["baselines"]))
    report = result.metrics.get("report", {})
    if "per_class" in report and len(report["per_class"]) <= 20:
        console.print(per_class_table(report))
    if "reconstruction_mse" in report:  # an autoencoder beside PCA with as many components as its bottleneck
        from kproto.report import single_metrics_table

        console.print(single_metrics_table(report, "Reconstruction (test split)"))
    if not getattr(result, "chief", True):
        console.print("[bold green]Worker finished[/]; the chief wrote the run directory (this worker kept no files)")
        return
    console.print(f"[bold green]Run saved to[/] {result.run}")


# ----------------------------------------------------------------------------- validate / schema
@cli.command()
@click.argument("recipe", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--set", "overrides", multiple=True, metavar="FIELD=VALUE", help="Override a recipe field (YAML value).")
def validate(recipe: Path, overrides: tuple[str, ...]) -> None:
    """Check RECIPE (schema, names, data file and columns) without training or importing TensorFlow."""
    from kproto.data.header import read_header
    from kproto.errors import DataError, suggest
    from kproto.recipe import load_recipe

    loaded = load_recipe(recipe, overrides)
    spec = loaded.recipe
    try:
        columns = read_header(spec.data.path)
        wanted = [c for c in [spec.data.target, spec.data.text, *(spec.data.features or [])] if c]
        if columns:
            for name in wanted:
                if name not in columns:
                    field = (
                        "data.target"
                        if name == spec.data.target
                        else ("data.text" if name == spec.data.text else "data.features")
                    )
                    guess = suggest(name, columns)
                    raise DataError(
                        f"the column '{name}' is not in {Path(spec.data.path).name}",
                        field=field,
                        hint=(f"did you mean '{guess}'? " if guess else "") + f"columns: {', '.join(columns[:12])}",
                    )
    except KprotoError as exc:
        raise _locate(exc, loaded) from None
    click.echo(
        f"{recipe}: OK ({spec.model.type} model, data {Path(spec.data.path).name}"
        + (f", {len(columns)} columns" if columns else "")
        + ")"
    )


@cli.command()
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write to this file instead of printing.")
def schema(out: Path | None) -> None:
    """Print the recipe's JSON Schema (for editor completion and checking)."""
    from kproto.recipe.schema import Recipe

    text = json.dumps(Recipe.model_json_schema(), indent=2)
    if out:
        from kproto.runs import atomic_write_text

        atomic_write_text(out, text + "\n")
        click.echo(f"wrote {out}")
    else:
        click.echo(text)


# ----------------------------------------------------------------------------- evaluate / predict / export
@cli.command()
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--data",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A new file of raw rows with the same columns.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as a JSON object.")
@click.option(
    "--judge",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    metavar="CLASSIFIER_RUN",
    help="GAN runs: score 1000 generated samples with this classifier run (top-class probability, classes).",
)
@click.option("--allow-code", is_flag=True, help="Allow the run's custom Python loss to be imported.")
@BACKEND_OPTION
@TRUST_OPTION
def evaluate(
    path: Path, data: Path | None, as_json: bool, judge: Path | None, allow_code: bool, backend: str | None, trust: bool
) -> None:
    """Metrics of a run (or .keras file) on its test split or on --data."""
    _setup_backend(backend or _loaded_backend() or "tensorflow", "auto")
    from kproto.evaluate import evaluate_run

    result = evaluate_run(path, data, trust=trust, judge=judge, allow_code=allow_code)
    if as_json:
        click.echo(json.dumps({**result.metrics, **({"report": result.report} if result.report else {})}, indent=2))
        return
    from kproto.report import baselines_table, confusion_table, per_class_table, single_metrics_table

    console = _console()
    console.print(single_metrics_table(result.metrics, f"Metrics on {result.source}"))
    if "per_class" in result.report:
        console.print(per_class_table(result.report))
        if len(result.report["classes"]) <= 20:
            console.print(confusion_table(result.report))
    elif result.report:
        console.print(single_metrics_table(result.report, "Report"))
    if result.baselines:
        console.print(baselines_table(result.baselines))


@cli.command()
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--data", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Raw rows to predict.")
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), help="Write predictions to this CSV (default: print)."
)
@click.option("--encode", is_flag=True, help="Autoencoder runs: add the bottleneck codes as columns code_0, code_1, …")
@click.option(
    "--samples",
    type=click.IntRange(min=1),
    metavar="N",
    help="GAN runs: generate N rows instead of predicting (a PNG grid is written next to --out).",
)
@BACKEND_OPTION
@TRUST_OPTION
def predict(
    path: Path, data: Path | None, out: Path | None, encode: bool, samples: int | None, backend: str | None, trust: bool
) -> None:
    """Predictions for the rows of --data as CSV (original labels; class probabilities), or --samples N from a GAN."""
    if (data is None) == (samples is None):
        raise click.UsageError("give --data FILE (rows to predict) or --samples N (a GAN run), not both or neither")
    _setup_backend(backend or _loaded_backend() or "tensorflow", "auto")
    if samples is not None:
        from kproto.gan import sample_run

        generated = sample_run(path, samples, trust=trust)
        frame = generated.frame
        grid = out.with_suffix(".png") if out else None
    else:
        from kproto.predict import predict_run

        frame = predict_run(path, data, trust=trust, encode=encode)
        grid = None
    text = frame.to_csv(index=False)
    if out:
        from kproto.runs import atomic_write_text

        atomic_write_text(out, text)
        if grid is not None:
            generated.grid(grid, f"{samples} samples")
        what = "samples" if samples else "predictions"
        click.echo(f"wrote {len(frame)} {what} to {out}" + (f" and {grid}" if grid else ""), err=True)
    else:
        click.echo(text, nl=False)


@cli.command()
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--format", "fmt", type=click.Choice(["savedmodel", "onnx", "tflite"]), required=True, help="Export format."
)
@click.option("--out", type=click.Path(path_type=Path), help="Where to write (default: RUN/export/model.<ext>).")
@TRUST_OPTION
def export(path: Path, fmt: str, out: Path | None, trust: bool) -> None:
    """Export a run's model and check the export against Keras in its own runtime."""
    _setup_backend("tensorflow", "auto")
    from kproto.export import export_run

    result = export_run(path, fmt, out, trust=trust)
    click.echo(f"exported {fmt} to {result.path}")
    click.echo(
        f"checked on {result.samples} samples: largest absolute difference {result.max_abs_diff:.3g} (tolerance {result.tolerance:g})"
    )


from kproto.cli_workflow import register as _register_workflow  # noqa: E402 - runs, sweep, plot, new, list, summary

_register_workflow(cli)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="kproto")


if __name__ == "__main__":  # pragma: no cover
    main()
    sys.exit(0)
