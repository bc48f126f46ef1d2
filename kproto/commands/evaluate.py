"""Metrics of a trained model: on the run's own splits, or on a new file of raw rows.

Classifiers are scored as `kproto predict` answers: with the run's calibrated probabilities and threshold, by
kproto.metrics.classification, so `evaluate --data F` accuracy is the accuracy of `predict --data F`'s predictions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kproto.core import catalog
from kproto.core.errors import KprotoError
from kproto.core.options import AttackOptions, DecodingOptions
from kproto.outputs.applications import PACKED_KINDS, packed_report
from kproto.training.compile import default_metrics, encode_labels
from kproto.training.scoring import (
    REPORT_ROWS,
    classification_report,
    evaluate_arrays,
    plain_decisions,
    shown_metrics,
    task_report,
)


@dataclass
class EvaluateOptions:
    """What `kproto evaluate` was asked besides the run: other rows, a judge, an attack, decoding, coverage."""

    data: Path | None = None
    trust: bool = False
    judge: Path | None = None
    allow_code: bool = False
    attack: AttackOptions = field(default_factory=AttackOptions)
    decoding: DecodingOptions = field(default_factory=DecodingOptions)
    coverage: float | None = None


@dataclass
class Evaluation:
    """What `kproto evaluate` shows."""

    source: str
    metrics: dict[str, float]
    report: dict[str, Any] = field(default_factory=dict)
    baselines: dict[str, Any] = field(default_factory=dict)  # {name: {metric: value}} on the same rows
    baselines_info: dict[str, Any] = field(default_factory=dict)
    verdict: dict[str, Any] = field(default_factory=dict)
    task: str = ""
    attack: dict[str, Any] = field(default_factory=dict)  # metrics clean and under attack (--attack)
    decisions: dict[str, Any] = field(default_factory=dict)  # calibration, threshold and --coverage on these rows
    forecast: dict[str, Any] = field(default_factory=dict)  # windows: "forecast", "baselines" and "verdict"
    targets: dict[str, Evaluation] = field(default_factory=dict)  # several targets: one evaluation per target
    input_warnings: str | None = None  # --data: its unseen categories and imputed cells, counted (None: none)

    def to_json(self) -> dict[str, Any]:
        """`kproto evaluate --json`: the metrics, then the report, baselines, verdict, attack and decisions."""
        extra: dict[str, Any] = {"source": self.source}
        if self.report:
            extra["report"] = self.report
        for key in ("baselines", "baselines_info", "verdict", "attack", "input_warnings"):
            if getattr(self, key):
                extra[key] = getattr(self, key)
        extra.update(self.decisions)
        extra.update(self.forecast)
        extra.update({name: one.to_json() for name, one in self.targets.items()})
        return {**self.metrics, **extra}


@dataclass
class Rows:
    """The rows evaluated: model inputs, raw targets, where they come from and the run's dataset when loaded."""

    x: Any
    y: Any
    source: str
    dataset: Any = None
    warnings: str | None = None  # a new file's unseen categories and imputed cells, counted (None: none)


def decision_summary(
    outputs: Any, y: Any, info: Any, decisions: Any, conformal: Any, coverage: float | None, metric: str
) -> dict[str, Any]:
    """The decisions on these rows: calibration error before and after calibration, the threshold metric at 0.5
    and at the run's threshold, and with `coverage` the empirical coverage and mean set size or interval width."""
    from kproto.metrics.calibration import expected_calibration_error, log_probabilities, threshold_score
    from kproto.metrics.conformal import interval_coverage, set_coverage

    summary: dict[str, Any] = {}
    y = np.asarray(y)
    if info.task == catalog.CLASSIFICATION:
        labels = y.astype(int)
        log_probs = log_probabilities(outputs, decisions.logits)
        probabilities = decisions.calibration.apply(log_probs)
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
    return summary


def decided_report(outputs: Any, y: Any, info: Any, decisions: Any) -> dict[str, Any]:
    """The classification report and every classification metric of these outputs at the run's decisions."""
    from kproto.metrics.classification import classification_metrics

    labels = np.asarray(y).astype(int)
    probabilities = decisions.probabilities(outputs)
    names = info.class_names or list(range(probabilities.shape[1]))
    report = classification_report(labels, decisions.classes(probabilities), names)
    report.update(classification_metrics(labels, probabilities, decisions.threshold))
    if decisions.threshold is not None and probabilities.shape[1] == 2:
        report["threshold"] = decisions.threshold
    return report


def _load_for_evaluation(run: Any, trust: bool, allow_code: bool) -> Any:
    """The run's model, compiled as in training; a custom (Python) loss is re-loaded only with --allow-code."""
    from kproto.runs.load import load_keras_model

    loss = run.recipe.train.loss
    if not (isinstance(loss, dict) and "python" in loss):
        return load_keras_model(run.model_path, trust=trust)
    from kproto.training.compile import compile_model

    model = load_keras_model(run.model_path, trust=trust, compile=False)
    compile_model(model, run.recipe, run.info, 1, allow_code=allow_code, base=run.path)
    return model


def evaluate_run(path: Path, options: EvaluateOptions | None = None) -> Evaluation:
    """Evaluate a run (or its .keras file) on its own test split, or on the raw rows of `options.data`.

    Classifiers are scored with the run's calibrated probabilities and threshold; `coverage` adds the empirical
    coverage and mean size (width) of conformal prediction sets (intervals). seq2seq runs generate the outputs and
    score them; recommender runs rank unseen items or score ratings. A GAN run is scored on generated samples
    (and by the classifier run `judge`). With `attack` the metrics are also computed on adversarial rows.
    Baselines: the run's own (its test split), or refitted on its training split and scored on `data`'s rows.
    """
    from kproto.outputs.answers import run_decisions
    from kproto.runs.load import load_run

    options = options or EvaluateOptions()
    run = load_run(path)
    _check_flags(run, options)
    decisions, conformal = run_decisions(run, options.coverage)
    model = _load_for_evaluation(run, options.trust, options.allow_code)
    if run.info.task == catalog.GENERATION:
        from kproto.commands.generate import evaluate_generator

        metrics, report = evaluate_generator(run, model, options.judge, options.trust)
        return Evaluation(
            source="generated samples vs test split", metrics=metrics, report=report, task=catalog.GENERATION
        )
    rows = _rows(run, options.data)
    metrics, report, summary, rows = _scores(run, model, rows, decisions, conformal, options.coverage)
    report = {**report, **_packed(run, model, rows, options)}
    if report and rows.dataset is not None and "pca_mse" in rows.dataset.baselines:  # autoencoders, same split
        report["pca_mse"] = rows.dataset.baselines["pca_mse"]
    evaluation = Evaluation(
        source=rows.source,
        metrics=metrics,
        report=report,
        task=run.info.task,
        decisions=summary,
        input_warnings=rows.warnings,
    )
    _compare(run, model, rows, evaluation)
    if options.attack.method is not None:
        evaluation.attack = _attack(run, model, rows, decisions, options.attack)
    return evaluation


def _check_flags(run: Any, options: EvaluateOptions) -> None:
    if options.attack.method is not None:
        _check_attack_flags(options.attack.method, options.attack.epsilon, options.attack.steps, run.info)
    if options.judge is not None and run.info.task != catalog.GENERATION:
        raise KprotoError(
            f"--judge scores generated samples; {run.path} is a {run.info.task} run",
            field="--judge",
            hint="pass --judge only when evaluating a GAN run",
        )


def _rows(run: Any, data: Path | None) -> Rows:
    """The run's test split (its dataset loaded with the saved preprocessing), or the raw rows of `data`."""
    from kproto.data import Preprocessor, load_dataset, transform_rows
    from kproto.data.readers import read_table

    pre = Preprocessor.from_dict(run.preprocess)
    if data is None:
        dataset = load_dataset(run.recipe, pre)
        return Rows(dataset.x_test, dataset.y_test, "test split", dataset)
    from kproto.data.preprocess import input_problems, problems_summary

    needs_target = run.info.task in (*catalog.SUPERVISED_TASKS, catalog.SEQ2SEQ, catalog.RANKING)
    frame = read_table(data, encoding=run.recipe.data.encoding)
    x, y = transform_rows(pre, frame, need_target=needs_target)
    return Rows(x, y, str(data), warnings=problems_summary(input_problems(run.preprocess, frame)))


def _label_mode(run: Any) -> str:
    return run.metrics.get("label_mode") or ("sparse" if run.info.task == catalog.CLASSIFICATION else "value")


def _scores(
    run: Any, model: Any, rows: Rows, decisions: Any, conformal: Any, coverage: float | None
) -> tuple[dict[str, float], dict[str, Any], dict[str, Any], Rows]:
    """(metrics, report, decision summary, the rows reported on: the first REPORT_ROWS of a streamed split)."""
    from kproto.data.streaming import evaluate_blocks, is_streamed

    info, batch_size, label_mode = run.info, run.recipe.train.batch_size, _label_mode(run)
    x, y = rows.x, rows.y
    if is_streamed(x):  # a streamed run's test split, on disk
        metrics = evaluate_blocks(
            lambda xb, yb: evaluate_arrays(model, xb, yb, batch_size),
            x,
            y,
            lambda labels: encode_labels(labels, label_mode, info.num_classes),
        )
        rows = Rows(x[:REPORT_ROWS], None if y is None else y[:REPORT_ROWS], rows.source, rows.dataset)
        report = task_report(model, info, rows.x, rows.y if info.task != catalog.RECONSTRUCTION else rows.x, batch_size)
        return metrics, report, {}, rows
    targets = x if info.task == catalog.RECONSTRUCTION else y
    metrics = evaluate_arrays(model, x, encode_labels(targets, label_mode, info.num_classes), batch_size)
    if info.task not in catalog.SUPERVISED_TASKS or y is None or len(x) == 0:
        return metrics, task_report(model, info, x, targets, batch_size), {}, rows
    outputs = np.asarray(model.predict(x, batch_size=max(batch_size, 256), verbose=0))
    metric = run.recipe.train.threshold_metric
    summary = decision_summary(outputs, y, info, decisions, conformal, coverage, metric)
    for key in ("calibration", "threshold"):  # where training chose them (validation, or the recipe)
        chosen = run.metrics.get(key)
        if key in summary and isinstance(chosen, dict) and chosen.get("method", "") != "none":
            summary[key]["chosen_on"] = chosen.get("chosen_on", "recipe")
    if info.task == catalog.REGRESSION:
        return metrics, task_report(model, info, x, y, batch_size), summary, rows
    report = decided_report(outputs, y, info, decisions or plain_decisions())
    names = run.recipe.train.metrics or default_metrics(info.task)
    return shown_metrics(metrics, report, names), report, summary, rows


def _packed(run: Any, model: Any, rows: Rows, options: EvaluateOptions) -> dict[str, Any]:
    """seq2seq: generated sequences; recommenders: ranked or rated items (seen ones from the training split)."""
    from kproto.data import Preprocessor, load_dataset

    pre = Preprocessor.from_dict(run.preprocess)
    if pre.kind not in PACKED_KINDS:
        return {}
    train: tuple[Any, Any] = (rows.x[:0], None)
    if run.info.task == catalog.RANKING:
        train = (rows.dataset or load_dataset(run.recipe, pre)).split("train")
    return packed_report(model, pre, run.info, train, (rows.x, rows.y), options.decoding)


def _compare(run: Any, model: Any, rows: Rows, evaluation: Evaluation) -> None:
    """Baselines and the verdict: the run's own on its test split, refitted on its training split for --data."""
    from kproto.metrics.verdict import verdict
    from kproto.training.baselines import with_handicap

    scores = {**evaluation.metrics, **{k: v for k, v in evaluation.report.items() if isinstance(v, (int, float))}}
    if "reconstruction_mse" in evaluation.report:
        scores["mse"] = evaluation.report["reconstruction_mse"]
    if rows.dataset is not None and getattr(rows.dataset, "forecast", None) is not None:  # windows: per step
        from kproto.training.forecasting import forecast_results

        evaluation.forecast = forecast_results(model, rows.dataset, run.recipe.train.batch_size)
        return
    stored = run.metrics.get("baselines")
    if rows.dataset is not None:
        info = run.metrics.get("baselines_info", {})
        if not isinstance(stored, dict) or not stored or info.get("split", "test") != "test":
            return
        evaluation.baselines, evaluation.baselines_info = stored, info
        metric = (run.metrics.get("verdict") or {}).get("metric")
        if metric in scores and all(isinstance(v, dict) for v in stored.values()):
            judged = verdict(metric, float(scores[metric]), stored, "test")
            evaluation.verdict = with_handicap(judged, info) if judged else {}
        return
    if run.info.task not in catalog.SUPERVISED_TASKS or rows.y is None or len(rows.x) == 0:
        return
    from kproto.data import Preprocessor, load_dataset
    from kproto.training.baselines import baselines_on_rows

    dataset = load_dataset(run.recipe, Preprocessor.from_dict(run.preprocess))
    names = run.recipe.train.metrics or default_metrics(run.info.task)
    shown = {k: v for k, v in evaluation.metrics.items() if k != "loss"}
    source = Path(evaluation.source).name
    seconds = float(run.metrics.get("seconds") or 0.0)
    block = baselines_on_rows(run.recipe, dataset, rows.x, rows.y, shown, names, source, seconds)
    evaluation.baselines = block.get("baselines", {})
    evaluation.baselines_info = block.get("baselines_info", {})
    evaluation.verdict = block.get("verdict", {})


def _attack(run: Any, model: Any, rows: Rows, decisions: Any, attack: AttackOptions) -> dict[str, Any]:
    """Metrics on clean and adversarial rows (classifiers at the run's decisions)."""
    from kproto.data import Preprocessor
    from kproto.robust.attacks import evaluate_under_attack

    if rows.y is None:
        raise KprotoError(f"--attack needs the target column in {rows.source}", field="--data")
    info, batch_size, label_mode = run.info, run.recipe.train.batch_size, _label_mode(run)
    names = run.recipe.train.metrics or default_metrics(info.task)

    def score(inputs: Any) -> dict[str, float]:
        labels = rows.y[: len(inputs)]
        logs = evaluate_arrays(model, inputs, encode_labels(labels, label_mode, info.num_classes), batch_size)
        if info.task != catalog.CLASSIFICATION:
            return logs
        outputs = np.asarray(model.predict(inputs, batch_size=max(batch_size, 256), verbose=0))
        return shown_metrics(logs, decided_report(outputs, labels, info, decisions or plain_decisions()), names)

    state = Preprocessor.from_dict(run.preprocess).state
    epsilon = float(attack.epsilon or 0)
    return evaluate_under_attack(
        model, info, state, rows.x, rows.y, score, attack.method, epsilon, attack.steps, seed=run.recipe.seed
    )


def _check_attack_flags(attack: str, epsilon: float | None, steps: int | None, info: Any) -> None:
    """--attack needs --epsilon; text, autoencoders and GANs are refused before the model loads."""
    from kproto.robust.attacks import DEFAULT_PGD_STEPS, check_attack

    if epsilon is None:
        raise KprotoError(
            f"--attack {attack} needs --epsilon, the radius in the model's input space",
            field="--epsilon",
            hint="e.g. --epsilon 0.1 (pixels are scaled to [0, 1]; numeric columns are standardized)",
        )
    check_attack(attack, epsilon, steps or DEFAULT_PGD_STEPS, info.kind, info.task)
