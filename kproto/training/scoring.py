"""Scores of a trained model on arrays: the splits' metrics, task reports (per-class table, error summaries) and
generated-sample statistics. What training records in metrics.json and `kproto evaluate` shows."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from kproto.core import catalog
from kproto.data.streaming import evaluate_blocks, is_streamed
from kproto.metrics.calibration import Calibration, Decisions
from kproto.metrics.classification import SCORED, classification_metrics
from kproto.models.gan import generate
from kproto.outputs.applications import PACKED_KINDS, packed_report
from kproto.training.compile import encode_labels

if TYPE_CHECKING:
    import keras

    from kproto.data.types import DataInfo, Dataset

JUDGE_SAMPLES = 1000  # generated rows scored at the end of a GAN run and by `kproto evaluate`


def evaluate_arrays(model: keras.Model, x: np.ndarray, y: np.ndarray | None, batch_size: int) -> dict[str, float]:
    """model.evaluate as a dict of floats (the numbers metrics.json and `kproto evaluate` report)."""
    if len(x) == 0:
        return {}
    logs = model.evaluate(x, y, batch_size=max(batch_size, 256), verbose=0, return_dict=True)
    return {k: float(v) for k, v in logs.items()}


def _targets(dataset: Dataset, name: str, label_mode: str) -> tuple[np.ndarray, np.ndarray | None]:
    x, y = dataset.split(name)
    if dataset.info.task == catalog.RECONSTRUCTION:
        y = x
    return x, encode_labels(y, label_mode, dataset.info.num_classes)


def evaluate_splits(
    model: keras.Model,
    dataset: Dataset,
    label_mode: str,
    batch_size: int,
    decisions: Decisions | None = None,
    metric_names: list[str] | None = None,
) -> dict[str, Any]:
    """{'train': {...}, 'validation': {...}, 'test': {...}} plus task-specific reports on the test split.

    Classifiers are scored with the run's `decisions` (calibration and threshold; argmax when None) by
    kproto.metrics.classification; `metric_names` (the recipe's) are the metrics shown per split.
    """
    if dataset.info.task == catalog.GENERATION:
        return generation_metrics(model, dataset)
    if is_streamed(dataset.x_train):
        return _evaluate_streamed(model, dataset, label_mode, batch_size)
    results: dict[str, Any] = {}
    classifier = dataset.info.task == catalog.CLASSIFICATION
    for name in catalog.SPLITS:
        x, y = _targets(dataset, name, label_mode)
        results[name] = evaluate_arrays(model, x, y, batch_size)
        if classifier and len(x):
            scores, _ = decided_scores(model, x, dataset.split(name)[1], decisions, batch_size)
            results[name] = shown_metrics(results[name], scores, metric_names)
    reconstruction = dataset.info.task == catalog.RECONSTRUCTION
    y_test = dataset.x_test if reconstruction else dataset.y_test
    extra = task_report(model, dataset.info, dataset.x_test, y_test, batch_size, decisions)
    if dataset.preprocessor.kind in PACKED_KINDS:  # seq2seq and recommender reports
        extra = {
            **extra,
            **packed_report(model, dataset.preprocessor, dataset.info, dataset.split("train"), dataset.split("test")),
        }
    if reconstruction and extra and "pca_mse" in dataset.baselines:
        extra["pca_mse"] = dataset.baselines["pca_mse"]
    if extra:
        results["report"] = extra
    if getattr(dataset, "forecast", None) is not None:  # windows: scores per step, baselines and the verdict
        from kproto.training.forecasting import forecast_results

        results.update(forecast_results(model, dataset, batch_size))
    return results


def plain_decisions() -> Decisions:
    """Argmax on uncalibrated probabilities: the decisions of a run that has none recorded."""
    return Decisions(Calibration("none"))


def decided_scores(
    model: keras.Model, x: np.ndarray, y: np.ndarray, decisions: Decisions | None, batch_size: int
) -> tuple[dict[str, float], np.ndarray]:
    """(every classification metric at the run's decisions, the calibrated probabilities) for rows x, labels y."""
    decisions = decisions or plain_decisions()
    outputs = np.asarray(model.predict(x, batch_size=max(batch_size, 256), verbose=0))
    probabilities = decisions.probabilities(outputs)
    return classification_metrics(np.asarray(y).astype(int), probabilities, decisions.threshold), probabilities


def shown_metrics(keras_logs: dict[str, float], scores: dict[str, float], metric_names: list[str] | None) -> dict:
    """A split's numbers: the loss (and any metric kproto does not compute) from Keras, then the recipe's metrics
    (accuracy when none are named) from kproto.metrics.classification."""
    names = list(metric_names) if metric_names else ["accuracy"]
    shown = {k: v for k, v in keras_logs.items() if k not in SCORED}
    shown.update({name: scores[name] for name in names if name in scores})
    return shown


REPORT_ROWS = 100_000  # streamed test splits: the per-class report uses the first rows


def _evaluate_streamed(model: keras.Model, dataset: Dataset, label_mode: str, batch_size: int) -> dict[str, Any]:
    """Metrics block by block for data on disk; the task report on the first REPORT_ROWS test rows."""

    def encode(y: np.ndarray) -> np.ndarray:
        return encode_labels(y, label_mode, dataset.info.num_classes)

    def evaluate(x: np.ndarray, y: np.ndarray) -> dict[str, float]:
        return evaluate_arrays(model, x, y, batch_size)

    results: dict[str, Any] = {}
    for name in catalog.SPLITS:
        x, y = dataset.split(name)
        results[name] = evaluate_blocks(evaluate, x, y, encode) if len(x) else {}
    x_head = dataset.x_test[:REPORT_ROWS]
    y_head = x_head if dataset.y_test is None else dataset.y_test[:REPORT_ROWS]
    extra = task_report(model, dataset.info, x_head, y_head, batch_size)
    if extra:
        results["report"] = extra
    return results


def task_report(
    model: keras.Model,
    info: DataInfo,
    x: np.ndarray,
    y: np.ndarray | None,
    batch_size: int,
    decisions: Decisions | None = None,
) -> dict[str, Any]:
    """Per-class precision/recall, the confusion matrix and every classification metric at the run's decisions
    (classification), or error summaries."""
    if y is None or len(x) == 0:
        return {}
    if info.task == catalog.CLASSIFICATION:
        decisions = decisions or plain_decisions()
        scores, probabilities = decided_scores(model, x, y, decisions, batch_size)
        names = info.class_names or list(range(info.num_classes))
        report = classification_report(np.asarray(y).astype(int), decisions.classes(probabilities), names)
        report.update(scores)
        if decisions.threshold is not None and probabilities.shape[1] == 2:
            report["threshold"] = decisions.threshold
        return report
    if info.task == catalog.REGRESSION:
        predicted = np.asarray(model.predict(x, batch_size=max(batch_size, 256), verbose=0)).reshape(-1)
        y = np.asarray(y).reshape(-1)  # a forecast's [windows, horizon] targets: every step counts
        errors = predicted - y.reshape(-1)
        total = float(np.sum((y - y.mean()) ** 2)) or 1.0
        return {
            "mae": float(np.mean(np.abs(errors))),
            "rmse": float(np.sqrt(np.mean(errors**2))),
            "r2": float(1 - np.sum(errors**2) / total),
        }
    if info.task == catalog.RECONSTRUCTION:
        rebuilt = np.asarray(model.predict(x, batch_size=max(batch_size, 256), verbose=0))
        per_row = np.mean((rebuilt.reshape(len(x), -1) - x.reshape(len(x), -1)) ** 2, axis=1)
        return {
            "reconstruction_mse": float(per_row.mean()),
            "reconstruction_mse_p95": float(np.percentile(per_row, 95)),
        }
    return {}


def classification_report(y_true: np.ndarray, y_pred: np.ndarray, class_names: list[Any]) -> dict[str, Any]:
    """Confusion matrix (rows: true, columns: predicted) and per-class precision, recall, F1, support."""
    n = len(class_names)
    confusion = np.zeros((n, n), dtype=np.int64)
    np.add.at(confusion, (y_true.astype(int), y_pred.astype(int)), 1)
    per_class = {}
    for i, name in enumerate(class_names):
        tp = confusion[i, i]
        predicted, actual = confusion[:, i].sum(), confusion[i, :].sum()
        precision = tp / predicted if predicted else 0.0
        recall = tp / actual if actual else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[str(name)] = {
            "precision": float(precision),
            "recall": float(recall),
            "f1": float(f1),
            "support": int(actual),
        }
    macro_f1 = float(np.mean([c["f1"] for c in per_class.values()])) if per_class else 0.0
    return {
        "accuracy": float(np.trace(confusion) / max(confusion.sum(), 1)),
        "macro_f1": macro_f1,
        "classes": [str(c) for c in class_names],
        "confusion": confusion.tolist(),
        "per_class": per_class,
    }


def generation_metrics(generator: Any, dataset: Dataset, count: int = JUDGE_SAMPLES) -> dict[str, Any]:
    """How generated rows compare with the real test rows: gaps in per-feature mean and spread, and how close
    generated rows come to the training rows (against the same distance for real test rows)."""
    real = dataset.x_test if len(dataset.x_test) else dataset.x_train
    fake, _ = generate(generator, dataset.info, count, 12345)
    fake_flat, real_flat = fake.reshape(len(fake), -1), real.reshape(len(real), -1)
    train = dataset.x_train.reshape(len(dataset.x_train), -1)
    stats = {
        "mean_gap": float(np.mean(np.abs(fake_flat.mean(axis=0) - real_flat.mean(axis=0)))),
        "std_gap": float(np.mean(np.abs(fake_flat.std(axis=0) - real_flat.std(axis=0)))),
        "generated_to_train_rms": nearest_rms(fake_flat, train),
        "test_to_train_rms": nearest_rms(real_flat, train),
    }
    return {"train": {}, "validation": {}, "test": stats, "report": {"samples": count}}


def nearest_rms(rows: np.ndarray, reference: np.ndarray) -> float:
    """Mean over `rows` of the root-mean-square difference to the nearest reference row."""
    ref_sq = np.sum(reference**2, axis=1)
    best = []
    for start in range(0, len(rows), 512):
        chunk = rows[start : start + 512]
        distance = np.sum(chunk**2, axis=1)[:, None] - 2 * chunk @ reference.T + ref_sq[None, :]
        best.append(np.sqrt(np.maximum(distance.min(axis=1), 0.0) / rows.shape[1]))
    return float(np.mean(np.concatenate(best))) if best else 0.0
