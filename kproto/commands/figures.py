"""`kproto plot`: load a run, predict its test split and draw every figure that applies to its task."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kproto.core import catalog
from kproto.runs import layout

if TYPE_CHECKING:
    from kproto.runs.load import LoadedRun

SAMPLE_COUNT = 36  # generated samples drawn for a GAN run
REAL_ROWS = 500  # test rows a GAN's tabular samples are compared with


def plot_run(path: Path, trust: bool = False) -> tuple[list[Path], list[str]]:
    """(Re)make every plot that applies to a run; returns the files written and why others were skipped.

    Keras must be configured before this is called (the model is loaded to predict the test split).
    """
    from kproto.core.errors import KprotoError
    from kproto.data import Preprocessor, load_dataset
    from kproto.report import plots
    from kproto.runs.index import read_history, resolve_run
    from kproto.runs.load import load_keras_model, load_run

    folder = resolve_run(Path(path))
    written: list[Path] = []
    skipped: list[str] = []
    history = read_history(folder / layout.HISTORY)
    name = folder.parent.name
    if history:
        written.append(plots.learning_curves(history, folder / layout.CURVES, title=name))
    else:
        skipped.append(f"{layout.CURVES}: the run has no {layout.HISTORY} (no epoch finished)")
    run = load_run(folder)
    model = load_keras_model(run.model_path, trust=trust, compile=False)
    try:
        dataset = load_dataset(run.recipe, Preprocessor.from_dict(run.preprocess))
    except KprotoError as exc:
        skipped.append(f"test-split plots: cannot read the run's data ({exc.message})")
        return written, skipped
    x, y = dataset.x_test, dataset.y_test
    if len(x) == 0:
        x, y = dataset.x_val, dataset.y_val
    if len(x) == 0:
        skipped.append("test-split plots: the test and validation splits are empty")
        return written, skipped
    draw = TASK_FIGURES.get(run.info.task)
    if draw is not None:
        draw(run, model, x, y, folder, written, skipped)
    if getattr(dataset, "forecast", None) is not None:
        from kproto.commands.forecasting import forecast_figure

        written.append(forecast_figure(run, model, dataset, folder / layout.FORECAST, folder.parent.name))
        skipped.append(f"{layout.ROBUSTNESS}: not drawn for forecasts")
        return written, skipped
    if run.info.task in catalog.SUPERVISED_TASKS:
        _robustness(run, model, x, y, folder, written, skipped)
    return written, skipped


ROBUSTNESS_ROWS = 1000  # test rows attacked for the robustness curve


def _robustness(
    run: LoadedRun, model: Any, x: Any, y: Any, folder: Path, written: list[Path], skipped: list[str]
) -> None:
    """The task score under PGD at a few epsilons (the robustness curve); text is skipped (discrete tokens)."""
    from kproto.core.errors import KprotoError
    from kproto.report import plots
    from kproto.robust.attacks import ROBUSTNESS_EPSILONS, Attacker, input_space, robustness_curve

    if run.info.kind == catalog.TEXT or y is None:
        skipped.append(f"{layout.ROBUSTNESS}: attacks need continuous inputs and targets (not text)")
        return
    try:
        clip, mask, space = input_space(run.info.kind, run.preprocess)
    except KprotoError as exc:
        skipped.append(f"{layout.ROBUSTNESS}: {exc.message}")
        return
    rows = min(len(x), ROBUSTNESS_ROWS)
    attacker = Attacker(model, run.info.task, "pgd", 0.0, clip=clip, mask=mask, seed=run.recipe.seed)
    points = robustness_curve(attacker, np.asarray(x[:rows]), np.asarray(y[:rows]), ROBUSTNESS_EPSILONS)
    title = f"{folder.parent.name}: PGD, {attacker.steps} steps, {rows} test rows"
    written.append(plots.robustness_curve(points, folder / layout.ROBUSTNESS, space, title=title))


def _predict(model: Any, x: Any) -> np.ndarray:
    return np.asarray(model.predict(x, batch_size=256, verbose=0))


def _classification(
    run: LoadedRun, model: Any, x: Any, y: Any, folder: Path, written: list[Path], skipped: list[str]
) -> None:
    from kproto.metrics.calibration import Decisions, expected_calibration_error, log_probabilities, reliability
    from kproto.report import plots
    from kproto.training.scoring import classification_report

    info, name = run.info, folder.parent.name
    decisions = Decisions.from_metrics(run.metrics)
    log_probs = log_probabilities(_predict(model, x).reshape(len(x), -1), decisions.logits)
    probabilities = decisions.calibration.apply(log_probs)  # what predict, evaluate and serve report
    classes = info.class_names or [str(i) for i in range(info.num_classes)]
    report = classification_report(y, decisions.classes(probabilities), classes)
    written.append(plots.confusion_matrix(report, folder / layout.CONFUSION))
    curves = {
        f"uncalibrated (ECE {expected_calibration_error(np.exp(log_probs), y):.3f})": reliability(np.exp(log_probs), y)
    }
    if decisions.calibration.method == "temperature":
        label = f"temperature {decisions.calibration.temperature:.2f} (ECE {expected_calibration_error(probabilities, y):.3f})"
        curves[label] = reliability(probabilities, y)
    written.append(
        plots.reliability_diagram({k: v.to_dict() for k, v in curves.items()}, folder / layout.RELIABILITY, name)
    )
    if info.num_classes == 2:
        positive = str(classes[1])
        written.append(plots.roc_curve(y == 1, probabilities[:, 1], folder / layout.ROC, positive, name))
        written.append(
            plots.precision_recall(y == 1, probabilities[:, 1], folder / layout.PRECISION_RECALL, positive, name)
        )
    else:
        skipped.append(
            f"{layout.ROC}, {layout.PRECISION_RECALL}: only for binary classification ({info.num_classes} classes)"
        )


def _regression(
    run: LoadedRun, model: Any, x: Any, y: Any, folder: Path, written: list[Path], skipped: list[str]
) -> None:
    from kproto.report import plots

    recipe, name = run.recipe, folder.parent.name
    target = recipe.data.target or "target"
    predicted = _predict(model, x).reshape(-1)
    y = np.asarray(y).reshape(-1)  # a forecast's [windows, horizon]: every step is a point
    written.append(plots.predicted_vs_actual(y, predicted, folder / layout.PREDICTED_VS_ACTUAL, target, name))
    written.append(plots.residuals(y, predicted, folder / layout.RESIDUALS, target, name))


def _reconstruction(
    run: LoadedRun, model: Any, x: Any, y: Any, folder: Path, written: list[Path], skipped: list[str]
) -> None:
    from kproto.report import plots

    rows = x[:8]
    features = run.preprocess.get("features") if isinstance(run.preprocess.get("features"), list) else None
    written.append(
        plots.reconstruction(
            rows,
            _predict(model, rows),
            folder / layout.RECONSTRUCTION,
            tuple(run.info.input_shape),
            features,
            title=folder.parent.name,
        )
    )


def _generation(
    run: LoadedRun, model: Any, x: Any, y: Any, folder: Path, written: list[Path], skipped: list[str]
) -> None:
    """Samples from the run's generator (model.keras), through the family's one sampling path."""
    from kproto.models.gan import class_names, generate
    from kproto.report import plots

    samples, labels = generate(model, run.info, SAMPLE_COUNT, run.recipe.seed)
    titles = None if labels is None else [str(n) for n in (class_names(run.info, labels) or labels)]
    written.append(
        plots.sample_grid(
            samples,
            folder / layout.SAMPLES_PLOT,
            tuple(run.info.input_shape),
            f"Generated samples — {folder.parent.name}",
            real=x[:REAL_ROWS],
            labels=titles,
        )
    )


TASK_FIGURES = {
    "classification": _classification,
    "regression": _regression,
    "reconstruction": _reconstruction,
    "generation": _generation,
}
