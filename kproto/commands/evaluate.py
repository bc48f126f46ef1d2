"""Metrics of a trained model: on the run's own splits, or on a new file of raw rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kproto.core import catalog
from kproto.core.options import DecodingOptions
from kproto.outputs.applications import PACKED_KINDS, packed_report
from kproto.training.compile import encode_labels
from kproto.training.scoring import REPORT_ROWS, classification_report, evaluate_arrays, task_report

if TYPE_CHECKING:
    from kproto.data.types import DataInfo
    from kproto.runs.load import LoadedRun


@dataclass
class Evaluation:
    """What `kproto evaluate` shows."""

    source: str
    metrics: dict[str, float]
    report: dict[str, Any] = field(default_factory=dict)
    baselines: dict[str, float] = field(default_factory=dict)
    task: str = ""
    attack: dict[str, Any] = field(default_factory=dict)  # metrics clean and under attack (--attack)
    decisions: dict[str, Any] = field(default_factory=dict)  # calibration, threshold and --coverage on these rows
    forecast: dict[str, Any] = field(default_factory=dict)  # windows: "forecast", "baselines" and "verdict"


def decision_report(
    outputs: Any, y: Any, info: DataInfo, decisions: Any, conformal: Any, coverage: float | None, metric: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(classification report with the run's calibrated probabilities and threshold, decision summary).

    The summary holds the calibration error before and after calibration, the threshold metric at 0.5 and at
    the run's threshold, and with `coverage` the empirical coverage and mean set size or interval width.
    """
    import numpy as np

    from kproto.metrics.calibration import expected_calibration_error, log_probabilities, threshold_score
    from kproto.metrics.conformal import interval_coverage, set_coverage

    summary: dict[str, Any] = {}
    report: dict[str, Any] = {}
    y = np.asarray(y)
    if info.task == catalog.CLASSIFICATION:
        labels = y.astype(int)
        log_probs = log_probabilities(outputs, decisions.logits)
        probabilities = decisions.calibration.apply(log_probs)
        names = info.class_names or list(range(probabilities.shape[1]))
        report = classification_report(labels, decisions.classes(probabilities), names)
        summary["calibration"] = {
            "method": decisions.calibration.method,
            "temperature": decisions.calibration.temperature,
            "ece_before": expected_calibration_error(np.exp(log_probs), labels),
            "ece_after": expected_calibration_error(probabilities, labels),
        }
        if decisions.threshold is not None and probabilities.shape[1] == 2:
            summary["threshold"] = {
                "value": decisions.threshold,
                "metric": metric,
                "at_0.5": threshold_score(metric, probabilities[:, 1], labels, 0.5),
                "at_threshold": threshold_score(metric, probabilities[:, 1], labels, decisions.threshold),
            }
        if coverage is not None:
            summary["conformal"] = {"asked": coverage, **set_coverage(conformal.sets(probabilities, coverage), labels)}
    elif info.task == catalog.REGRESSION and coverage is not None and getattr(conformal, "steps", None) is not None:
        lower, upper = conformal.step_intervals(np.asarray(outputs).reshape(y.shape), coverage)  # per forecast step
        summary["conformal"] = {"asked": coverage, **interval_coverage(lower.reshape(-1), upper.reshape(-1), y)}
    elif info.task == catalog.REGRESSION and coverage is not None:
        lower, upper = conformal.intervals(np.asarray(outputs).reshape(len(y), -1)[:, 0], coverage)
        summary["conformal"] = {"asked": coverage, **interval_coverage(lower, upper, y)}
    return report, summary


def _load_for_evaluation(run: LoadedRun, trust: bool, allow_code: bool) -> Any:
    """The run's model, compiled as in training; a custom (Python) loss is re-loaded only with --allow-code."""
    from kproto.runs.load import load_keras_model

    loss = run.recipe.train.loss
    if not (isinstance(loss, dict) and "python" in loss):
        return load_keras_model(run.model_path, trust=trust)
    from kproto.training.compile import compile_model

    model = load_keras_model(run.model_path, trust=trust, compile=False)
    compile_model(model, run.recipe, run.info, 1, allow_code=allow_code, base=run.path)
    return model


def evaluate_run(
    path: Path,
    data: Path | None = None,
    trust: bool = False,
    judge: Path | None = None,
    allow_code: bool = False,
    attack: str | None = None,
    epsilon: float | None = None,
    steps: int | None = None,
    beam: int | None = None,
    max_length: int | None = None,
    coverage: float | None = None,
) -> Evaluation:
    """Evaluate a run (or its .keras file) on its own test split, or on the raw rows of `data`.

    Classifiers are scored with the run's calibrated probabilities and threshold; `coverage` adds the empirical
    coverage and mean size (width) of conformal prediction sets (intervals).

    seq2seq runs generate the outputs (greedy, or beam search of width `beam`, at most `max_length` tokens) and
    score them; recommender runs rank unseen items or score ratings.

    A GAN run is scored on generated samples instead (and by the classifier run `judge`, when given). With `attack`
    (fgsm or pgd), the metrics are also computed on adversarial versions of the rows at radius `epsilon`.
    """
    from kproto.data import Preprocessor, load_dataset, transform_rows
    from kproto.data.readers import read_table
    from kproto.runs.load import load_run

    run = load_run(path)
    if attack is not None:
        _check_attack_flags(attack, epsilon, steps, run.info)
    from kproto.outputs.answers import run_decisions

    decisions, conformal = run_decisions(run, coverage)
    model = _load_for_evaluation(run, trust, allow_code)
    if run.info.task == "generation":
        from kproto.commands.generate import evaluate_generator

        metrics, report = evaluate_generator(run, model, judge, trust)
        return Evaluation(source="generated samples vs test split", metrics=metrics, report=report, task="generation")
    if judge is not None:
        from kproto.core.errors import KprotoError

        raise KprotoError(
            f"--judge scores generated samples; {run.path} is a {run.info.task} run",
            field="--judge",
            hint="pass --judge only when evaluating a GAN run",
        )
    pre = Preprocessor.from_dict(run.preprocess)
    label_mode = run.metrics.get("label_mode") or ("sparse" if run.info.task == "classification" else "value")
    batch_size = run.recipe.train.batch_size
    if data is None:
        dataset = load_dataset(run.recipe, pre)
        x, y_raw = dataset.x_test, dataset.y_test
        source = "test split"
        baselines = dataset.baselines
    else:
        frame = read_table(data)
        needs_target = run.info.task in ("classification", "regression", "seq2seq", "ranking")
        x, y_raw = transform_rows(pre, frame, need_target=needs_target)
        source = str(data)
        baselines = {}
    from kproto.data.streaming import evaluate_blocks, is_streamed

    if is_streamed(x):  # a streamed run's test split, on disk
        metrics = evaluate_blocks(
            lambda xb, yb: evaluate_arrays(model, xb, yb, batch_size),
            x,
            y_raw,
            lambda y: encode_labels(y, label_mode, run.info.num_classes),
        )
        x = x[:REPORT_ROWS]
        y_raw = None if y_raw is None else y_raw[:REPORT_ROWS]
    else:
        y = x if run.info.task == "reconstruction" else y_raw
        metrics = evaluate_arrays(model, x, encode_labels(y, label_mode, run.info.num_classes), batch_size)
    report = task_report(model, run.info, x, y_raw if run.info.task != "reconstruction" else x, batch_size)
    if run.info.task == "reconstruction" and report and "pca_mse" in baselines:
        report["pca_mse"] = baselines["pca_mse"]  # PCA with as many components as the bottleneck, same split
    summary: dict[str, Any] = {}
    if run.info.task in ("classification", "regression") and y_raw is not None and len(x):
        import numpy as np

        outputs = np.asarray(model.predict(x, batch_size=max(batch_size, 256), verbose=0))
        decided, summary = decision_report(
            outputs, y_raw, run.info, decisions, conformal, coverage, run.recipe.train.threshold_metric
        )
        report = {**report, **decided}
    if pre.kind in PACKED_KINDS:  # generated sequences; ranked or rated items (seen ones from the training split)
        ranking = run.info.task == "ranking"
        train = (
            (dataset if data is None else load_dataset(run.recipe, pre)).split("train") if ranking else (x[:0], None)
        )
        report = {**report, **packed_report(model, pre, run.info, train, (x, y_raw), DecodingOptions(beam, max_length))}
    block: dict[str, Any] = {}
    if attack is not None:
        from kproto.robust.attacks import evaluate_under_attack

        if y_raw is None:
            from kproto.core.errors import KprotoError

            raise KprotoError(f"--attack needs the target column in {source}", field="--data")

        def score(inputs: Any) -> dict[str, float]:
            targets = encode_labels(y_raw[: len(inputs)], label_mode, run.info.num_classes)
            return evaluate_arrays(model, inputs, targets, batch_size)

        block = evaluate_under_attack(
            model, run.info, pre.state, x, y_raw, score, attack, float(epsilon or 0), steps, seed=run.recipe.seed
        )
    forecast = {}
    if data is None and getattr(dataset, "forecast", None) is not None:  # scores per step beside the baselines
        from kproto.training.forecasting import forecast_results

        forecast = forecast_results(model, dataset, batch_size)
        baselines = {}
    return Evaluation(
        source=source,
        metrics=metrics,
        report=report,
        forecast=forecast,
        baselines=baselines,
        task=run.info.task,
        attack=block,
        decisions=summary,
    )


def _check_attack_flags(attack: str, epsilon: float | None, steps: int | None, info: DataInfo) -> None:
    """--attack needs --epsilon; text, autoencoders and GANs are refused before the model loads."""
    from kproto.core.errors import KprotoError
    from kproto.robust.attacks import DEFAULT_PGD_STEPS, check_attack

    if epsilon is None:
        raise KprotoError(
            f"--attack {attack} needs --epsilon, the radius in the model's input space",
            field="--epsilon",
            hint="e.g. --epsilon 0.1 (pixels are scaled to [0, 1]; numeric columns are standardized)",
        )
    check_attack(attack, epsilon, steps or DEFAULT_PGD_STEPS, info.kind, info.task)
