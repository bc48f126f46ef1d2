"""The run commands: train, validate, schema, evaluate, predict, export. Heavy imports stay inside commands."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from kproto.cli.common import BACKEND, DEVICE, TRUST, console, loaded_backend, locate, set_option, setup_backend
from kproto.core.errors import KprotoError
from kproto.core.options import AttackOptions, DecodingOptions
from kproto.runs import layout


# ----------------------------------------------------------------------------- train
@click.command("train")
@click.argument("recipe", required=False, type=click.Path(dir_okay=False, path_type=Path))
@set_option()
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
@BACKEND
@DEVICE
@click.option(
    "--mlflow",
    "use_mlflow",
    is_flag=True,
    help="Log params (flattened recipe), per-epoch metrics and the model to MLflow.",
)
def train_command(
    recipe: Path | None,
    overrides: tuple[str, ...],
    out: Path,
    resume: Path | None,
    allow_code: bool,
    backend: str | None,
    device: str,
    use_mlflow: bool,
) -> None:
    """Train RECIPE and write a run directory under --out."""
    trackers: list[Any] = []
    if use_mlflow:
        from kproto.commands.tracking import MlflowTracker

        trackers.append(MlflowTracker())  # refuses before anything is read or trained when MLflow is missing
    from kproto.recipe import load_recipe

    if resume is not None:
        recipe_path = resume / layout.RECIPE
        if recipe is not None:
            raise click.UsageError("give either RECIPE or --resume RUN_DIR, not both")
        if not recipe_path.exists() and not recipe_path.is_symlink():
            raise KprotoError(f"{resume} has no {layout.RECIPE}; it is not a kproto run", field="--resume")
        from kproto.runs.schemas import check_inside

        check_inside(resume, recipe_path)  # never a link out of the run folder
        bad = [o for o in overrides if not o.startswith("train.epochs=")]
        if bad:
            raise click.UsageError(f"with --resume only --set train.epochs=N is allowed, not {bad[0]!r}")
    elif recipe is None:
        raise click.UsageError("missing RECIPE (or --resume RUN_DIR)")
    else:
        recipe_path = recipe
    loaded = load_recipe(recipe_path, overrides, saved=resume is not None)
    if resume is not None:
        loaded.recipe.name = resume.parent.name
        if backend is None and (resume / layout.METRICS).exists():  # continue on the backend the run started on
            from kproto.runs.schemas import read_run_json

            backend = read_run_json(resume, layout.METRICS).get("backend")
    setup_backend(backend, device, loaded.recipe)
    from kproto.report.tables import RichReporter

    screen = console()
    reporter: Any = RichReporter(screen)
    if trackers:
        from kproto.commands.tracking import TrackingReporter

        reporter = TrackingReporter(
            reporter, trackers, on_logged=lambda tracker, run: click.echo(f"logged {run} to {tracker.name}", err=True)
        )
    try:
        from kproto.training import train

        result = train(
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
        _stop_tracking(reporter)
        raise locate(exc, loaded) from None
    except BaseException:
        reporter.close()
        _stop_tracking(reporter)
        raise
    finally:
        reporter.close()
    print_summary(screen, result.metrics)
    if not getattr(result, "chief", True):
        screen.print("[bold green]Worker finished[/]; the chief wrote the run directory (this worker kept no files)")
        return
    screen.print(f"[bold green]Run saved to[/] {result.run}")
    if trackers:
        reporter.finished(result)


def print_summary(screen: Any, metrics: dict[str, Any]) -> None:
    """The end of `kproto train`: final metrics (with what each measures), the decisions, the per-class table,
    the baselines beside the model and the verdict in words."""
    from rich.markup import escape

    from kproto.metrics.classification import legend
    from kproto.report.tables import (
        baselines_table,
        decisions_summary,
        legend_text,
        metrics_table,
        per_class_table,
        single_metrics_table,
        splits_legend,
        verdict_text,
    )

    screen.print(metrics_table(metrics))
    caveat = splits_legend(metrics)
    if caveat:
        screen.print(caveat)
    shown = [name for split in ("train", "validation", "test") for name in (metrics.get(split) or {})]
    described = legend_text(list(dict.fromkeys(shown)), legend(metrics))
    if described:
        screen.print(described)
    decisions = decisions_summary(metrics)
    if decisions is not None:
        screen.print(decisions)
    report = metrics.get("report", {})
    if "per_class" in report and len(report["per_class"]) <= 20:
        screen.print(per_class_table(report))
    if "reconstruction_mse" in report:  # an autoencoder beside PCA with as many components as its bottleneck
        screen.print(single_metrics_table(report, "Reconstruction (test split)"))
    if "token_error_rate" in report or "cold_start_rows" in report:  # seq2seq: generated text; recommenders
        screen.print(single_metrics_table(report, "Report (test split)"))
    if "forecast" in metrics:  # windows: the forecasts beside last value, seasonal naive and linear AR
        from kproto.report.tables import forecast_steps_table, forecast_table

        if len(metrics["forecast"].get("per_step", [])) > 1:
            screen.print(forecast_steps_table(metrics["forecast"]))
        screen.print(forecast_table({**metrics, "verdict": None}))  # the verdict follows, in words
        for note in metrics["forecast"].get("notes", []):  # rows sorted, gaps filled, cells interpolated
            screen.print(f"[yellow]data:[/] {note}")
    elif metrics.get("baselines"):
        info = metrics.get("baselines_info", {})
        split = info.get("split", "test")
        model = {**(metrics.get(split) or {}), **(report if split == "test" else {})}
        if "reconstruction_mse" in report:
            model["mse"] = report["reconstruction_mse"]
        screen.print(baselines_table(metrics["baselines"], info, model))
    if metrics.get("verdict"):
        screen.print(verdict_text(metrics["verdict"]))
    for name, block in (metrics.get("targets") or {}).items():  # several targets: each target's verdict
        if block.get("verdict"):
            screen.print(f"[bold]{escape(name)}[/]")
            screen.print(verdict_text(block["verdict"]))


def _stop_tracking(reporter: Any) -> None:
    """Training raised: a tracking reporter logs the run folder it was told of (failed or interrupted)."""
    stopped = getattr(reporter, "stopped", None)
    if stopped is not None:
        stopped()


# ----------------------------------------------------------------------------- validate / schema
@click.command("validate")
@click.argument("recipe", type=click.Path(dir_okay=False, path_type=Path))
@set_option("Override a recipe field (YAML value).")
def validate_command(recipe: Path, overrides: tuple[str, ...]) -> None:
    """Check RECIPE (schema, names, data file and columns) without training or importing TensorFlow."""
    from kproto.core.errors import DataError, suggest
    from kproto.data.header import read_header
    from kproto.recipe import load_recipe
    from kproto.recipe.targets import target_names

    loaded = load_recipe(recipe, overrides)
    spec = loaded.recipe
    try:
        columns = read_header(spec.data.path)
        data = spec.data
        named = {name: "data.target" for name in target_names(data)}
        named.update({data.text: "data.text", data.user: "data.user", data.item: "data.item"})
        named[data.split.column] = "data.split.column"
        named.update({name: f"data.columns.{name}" for name in data.columns or {}})
        wanted = [c for c in [*named, *(data.features or [])] if c]
        if columns:
            for name in wanted:
                if name not in columns:
                    field = named.get(name, "data.features")
                    guess = suggest(name, columns)
                    raise DataError(
                        f"the column '{name}' is not in {Path(spec.data.path).name}",
                        field=field,
                        hint=(f"did you mean '{guess}'? " if guess else "") + f"columns: {', '.join(columns[:12])}",
                    )
        from kproto.data.header import audit_applies

        audit = None
        if columns and audit_applies(spec):  # the first rows, read without pandas where the file allows
            from kproto.data.sample import sample_audit

            audit = sample_audit(spec)
    except KprotoError as exc:
        raise locate(exc, loaded) from None
    click.echo(
        f"{recipe}: OK ({spec.model.type} model, data {Path(spec.data.path).name}"
        + (f", {len(columns)} columns" if columns else "")
        + ")"
    )
    if audit is not None:
        if audit.dropped():
            click.echo("dropped by the data audit: " + audit.dropped_line())
        for line in audit.warning_lines():
            click.echo(line)


FORCE = click.option("--force", is_flag=True, help="Replace an existing --out file (never the input data).")


@click.command("schema")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to this new file instead of printing (an existing file needs --force).",
)
@FORCE
def schema_command(out: Path | None, force: bool) -> None:
    """Print the recipe's JSON Schema (for editor completion and checking)."""
    from kproto.recipe.schema import Recipe

    text = json.dumps(Recipe.model_json_schema(), indent=2)
    if out:
        from kproto.core.files import check_output
        from kproto.runs.store import atomic_write_text

        check_output(out, force=force)
        atomic_write_text(out, text + "\n")
        click.echo(f"wrote {out}")
    else:
        click.echo(text)


# ----------------------------------------------------------------------------- evaluate / predict / export
BEAM = click.option(
    "--beam",
    type=click.IntRange(min=1),
    metavar="N",
    help="seq2seq runs: beam search keeping N hypotheses (1: greedy; default: the recipe's model.beam).",
)
COVERAGE = click.option(
    "--coverage",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    metavar="P",
    help="Conformal prediction at coverage P (e.g. 0.9): prediction sets for classifiers, intervals for regression.",
)
MAX_LENGTH = click.option(
    "--max-length",
    type=click.IntRange(min=1),
    metavar="N",
    help="seq2seq runs: generate at most N tokens per text (default: the longest training target).",
)
ATTACK = click.option(
    "--attack",
    type=click.Choice(["fgsm", "pgd"]),
    help="Also report the metrics under an adversarial attack (needs --epsilon).",
)
EPSILON = click.option(
    "--epsilon",
    type=click.FloatRange(min=0),
    metavar="E",
    help="Attack radius in the model's input space: scaled pixels in [0, 1], standardized numeric columns.",
)
STEPS = click.option("--steps", type=click.IntRange(min=1), metavar="K", help="PGD steps (default 10).")


def decoding_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--beam and --max-length, handed to the command as one DecodingOptions named `decoding`."""

    @functools.wraps(command)
    def bundled(*args: Any, beam: int | None, max_length: int | None, **kwargs: Any) -> Any:
        return command(*args, decoding=DecodingOptions(beam, max_length), **kwargs)

    return BEAM(MAX_LENGTH(bundled))


def attack_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--attack, --epsilon and --steps, handed to the command as one AttackOptions named `attack`."""

    @functools.wraps(command)
    def bundled(*args: Any, attack: str | None, epsilon: float | None, steps: int | None, **kwargs: Any) -> Any:
        if attack is None and (epsilon is not None or steps is not None):
            raise click.UsageError("--epsilon and --steps set up an attack: add --attack fgsm or --attack pgd")
        return command(*args, attack=AttackOptions(attack, epsilon, steps), **kwargs)  # type: ignore[arg-type]

    return ATTACK(EPSILON(STEPS(bundled)))


@click.command("evaluate")
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
@attack_options
@COVERAGE
@decoding_options
@BACKEND
@TRUST
def evaluate_command(
    path: Path,
    data: Path | None,
    as_json: bool,
    judge: Path | None,
    allow_code: bool,
    attack: AttackOptions,
    coverage: float | None,
    decoding: DecodingOptions,
    backend: str | None,
    trust: bool,
) -> None:
    """Metrics of a run (or .keras file) on its test split or on --data (and under --attack)."""
    setup_backend(backend or loaded_backend() or "tensorflow", "auto")
    from kproto.commands.evaluate import EvaluateOptions
    from kproto.commands.targets import evaluate_any as evaluate_run

    options = EvaluateOptions(
        data=data,
        trust=trust,
        judge=judge,
        allow_code=allow_code,
        attack=attack,
        decoding=decoding,
        coverage=coverage,
    )
    result = evaluate_run(path, options)
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2))
        return
    print_evaluation(console(), result)


def print_evaluation(screen: Any, result: Any) -> None:
    """`kproto evaluate`'s tables: metrics (with what each measures), the per-class table and confusion matrix at
    the run's decisions, the decisions on these rows, the baselines beside the model and the verdict in words."""
    from rich.markup import escape

    from kproto.metrics.classification import legend
    from kproto.report.tables import (
        baselines_table,
        confusion_table,
        decisions_table,
        legend_text,
        per_class_table,
        single_metrics_table,
        verdict_text,
    )

    if result.input_warnings:  # unseen categories and imputed cells in --data, never silent
        screen.print(f"[yellow]{escape(result.input_warnings)}[/]")
    screen.print(single_metrics_table(result.metrics, f"Metrics on {result.source}"))
    described = legend_text(list(result.metrics), legend({"report": result.report, **result.decisions}))
    if described:
        screen.print(described)
    if "per_class" in result.report:
        screen.print(per_class_table(result.report, result.source))
        if len(result.report["classes"]) <= 20:
            screen.print(confusion_table(result.report))
    elif result.report:
        screen.print(single_metrics_table(result.report, "Report"))
    if result.decisions:
        screen.print(decisions_table(result.decisions))
    if result.attack:
        from kproto.report.tables import attack_table

        screen.print(attack_table(result.attack))
    if result.forecast:  # windows: per step, and beside the baselines on the same windows
        from kproto.report.tables import forecast_steps_table, forecast_table

        screen.print(forecast_steps_table(result.forecast["forecast"]))
        screen.print(forecast_table({**result.forecast, "verdict": None}))  # the verdict follows, in words
    elif result.baselines:
        model = {**result.metrics, **{k: v for k, v in result.report.items() if isinstance(v, (int, float))}}
        if "reconstruction_mse" in result.report:
            model["mse"] = result.report["reconstruction_mse"]
        screen.print(baselines_table(result.baselines, result.baselines_info, model))
    verdict = result.verdict or result.forecast.get("verdict")
    if verdict:
        screen.print(verdict_text(verdict))
    for name, one in result.targets.items():  # several targets: the tables of each
        screen.print(f"\n[bold]Target {escape(name)}[/] ({one.task})")
        print_evaluation(screen, one)


@click.command("predict")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--data", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Raw rows to predict.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write predictions to this new CSV (default: print); never the --data file, an existing file needs --force.",
)
@FORCE
@click.option("--encode", is_flag=True, help="Autoencoder runs: add the bottleneck codes as columns code_0, code_1, …")
@click.option(
    "--samples",
    type=click.IntRange(min=1),
    metavar="N",
    help="GAN runs: generate N rows instead of predicting (a PNG grid is written next to --out).",
)
@click.option("--user", metavar="U", help="Recommender runs: list the best items for this user (unseen ones).")
@click.option("--similar", metavar="ITEM", help="Recommender runs: list the items whose embeddings are nearest ITEM's.")
@click.option(
    "--top",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    metavar="N",
    help="Items listed by --user/--similar.",
)
@click.option(
    "--horizon",
    type=click.IntRange(min=1),
    metavar="H",
    help="Time-series runs: forecast the H steps after the last row of --data (per series), with their times.",
)
@COVERAGE
@decoding_options
@BACKEND
@TRUST
def predict_command(
    path: Path,
    data: Path | None,
    out: Path | None,
    force: bool,
    encode: bool,
    samples: int | None,
    user: str | None,
    similar: str | None,
    top: int,
    horizon: int | None,
    coverage: float | None,
    decoding: DecodingOptions,
    backend: str | None,
    trust: bool,
) -> None:
    """Predictions for the rows of --data as CSV (original labels; class probabilities; generated text; a time
    series' forecasts of the steps after its last row with --horizon H), --samples N from a GAN, or a recommender's
    items for --user U or --similar ITEM."""
    if sum(option is not None for option in (data, samples, user, similar)) != 1:
        raise click.UsageError(
            "give one of --data FILE (rows to predict), --samples N (a GAN run), --user U or --similar ITEM "
            "(a recommender run)"
        )
    if coverage is not None and data is None:
        raise click.UsageError("--coverage adds prediction sets or intervals to --data FILE predictions")
    if horizon is not None and data is None:
        raise click.UsageError("--horizon forecasts the steps after the rows of --data FILE")
    if out:  # before any work: the input is never replaced, an existing file only with --force
        from kproto.core.files import check_output

        check_output(out, inputs=(data, path), force=force)
        if samples is not None:
            check_output(out.with_suffix(".png"), inputs=(data, path), force=force)
    setup_backend(backend or loaded_backend() or "tensorflow", "auto")
    if horizon is not None:
        from kproto.commands.forecasting import forecast_run

        frame = forecast_run(path, data, horizon, coverage=coverage, trust=trust)
        grid = None
    elif user is not None or similar is not None:
        from kproto.commands.predict import recommend_run, similar_run

        frame = recommend_run(path, user, top, trust) if user is not None else similar_run(path, similar, top, trust)
        grid = None
    elif samples is not None:
        from kproto.commands.generate import sample_run

        generated = sample_run(path, samples, trust=trust)
        frame = generated.frame
        grid = out.with_suffix(".png") if out else None
    else:
        from kproto.commands.predict import predict_run

        frame = predict_run(path, data, trust=trust, encode=encode, decoding=decoding, coverage=coverage)
        grid = None
        if frame.attrs.get("input_warnings"):  # unseen categories and imputed cells, never silent
            click.echo(frame.attrs["input_warnings"], err=True)
    text = frame.to_csv(index=False)
    if out:
        from kproto.runs.store import atomic_write_text

        atomic_write_text(out, text)
        if grid is not None:
            generated.grid(grid, f"{samples} samples")
        what = "samples" if samples else "predictions"
        click.echo(f"wrote {len(frame)} {what} to {out}" + (f" and {grid}" if grid else ""), err=True)
    else:
        click.echo(text, nl=False)


@click.command("export")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--format", "fmt", type=click.Choice(["savedmodel", "onnx", "tflite"]), required=True, help="Export format."
)
@click.option("--out", type=click.Path(path_type=Path), help="Where to write (default: RUN/export/model.<ext>).")
@TRUST
def export_command(path: Path, fmt: str, out: Path | None, trust: bool) -> None:
    """Export a run's model and check the export against Keras in its own runtime."""
    setup_backend("tensorflow", "auto")
    from kproto.commands.export import export_run

    result = export_run(path, fmt, out, trust=trust)
    click.echo(f"exported {fmt} to {result.path}")
    click.echo(
        f"checked on {result.samples} {result.inputs}: largest absolute difference {result.max_abs_diff:.3g} "
        f"(tolerance {result.tolerance:g})"
    )
    if result.note:
        click.echo(f"note: {result.note}")
