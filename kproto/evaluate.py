"""Metrics of a trained model: on the run's own splits, or on a new file of raw rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kproto.compile import encode_labels


def evaluate_arrays(model: Any, x: np.ndarray, y: np.ndarray | None, batch_size: int) -> dict[str, float]:
    """model.evaluate as a dict of floats (the numbers metrics.json and `kproto evaluate` report)."""
    if len(x) == 0:
        return {}
    logs = model.evaluate(x, y, batch_size=max(batch_size, 256), verbose=0, return_dict=True)
    return {k: float(v) for k, v in logs.items()}


def _targets(dataset: Any, name: str, label_mode: str) -> tuple[np.ndarray, np.ndarray | None]:
    x, y = dataset.split(name)
    if dataset.info.task == "reconstruction":
        y = x
    return x, encode_labels(y, label_mode, dataset.info.num_classes)


def evaluate_splits(model: Any, dataset: Any, label_mode: str, batch_size: int) -> dict[str, Any]:
    """{'train': {...}, 'validation': {...}, 'test': {...}} plus task-specific reports on the test split."""
    if dataset.info.task == "generation":
        from kproto.generate import generation_metrics

        return generation_metrics(model, dataset)
    from kproto.engines.streaming import is_streamed

    if is_streamed(dataset.x_train):
        return _evaluate_streamed(model, dataset, label_mode, batch_size)
    results: dict[str, Any] = {}
    for name in ("train", "validation", "test"):
        x, y = _targets(dataset, name, label_mode)
        results[name] = evaluate_arrays(model, x, y, batch_size)
    reconstruction = dataset.info.task == "reconstruction"
    y_test = dataset.x_test if reconstruction else dataset.y_test
    extra = task_report(model, dataset.info, dataset.x_test, y_test, batch_size)
    if reconstruction and extra and "pca_mse" in dataset.baselines:
        extra["pca_mse"] = dataset.baselines["pca_mse"]
    if extra:
        results["report"] = extra
    return results


REPORT_ROWS = 100_000  # streamed test splits: the per-class report uses the first rows


def _evaluate_streamed(model: Any, dataset: Any, label_mode: str, batch_size: int) -> dict[str, Any]:
    """Metrics block by block for data on disk; the task report on the first REPORT_ROWS test rows."""
    from kproto.engines.streaming import evaluate_blocks

    def encode(y: np.ndarray) -> np.ndarray:
        return encode_labels(y, label_mode, dataset.info.num_classes)

    def evaluate(x: np.ndarray, y: np.ndarray) -> dict[str, float]:
        return evaluate_arrays(model, x, y, batch_size)

    results: dict[str, Any] = {}
    for name in ("train", "validation", "test"):
        x, y = dataset.split(name)
        results[name] = evaluate_blocks(evaluate, x, y, encode) if len(x) else {}
    x_head = dataset.x_test[:REPORT_ROWS]
    y_head = x_head if dataset.y_test is None else dataset.y_test[:REPORT_ROWS]
    extra = task_report(model, dataset.info, x_head, y_head, batch_size)
    if extra:
        results["report"] = extra
    return results


def task_report(model: Any, info: Any, x: np.ndarray, y: np.ndarray | None, batch_size: int) -> dict[str, Any]:
    """Per-class precision/recall and the confusion matrix (classification), or error summaries."""
    if y is None or len(x) == 0:
        return {}
    if info.task == "classification":
        probabilities = np.asarray(model.predict(x, batch_size=max(batch_size, 256), verbose=0))
        return classification_report(y, probabilities.argmax(axis=1), info.class_names or list(range(info.num_classes)))
    if info.task == "regression":
        predicted = np.asarray(model.predict(x, batch_size=max(batch_size, 256), verbose=0)).reshape(-1)
        errors = predicted - y.reshape(-1)
        total = float(np.sum((y - y.mean()) ** 2)) or 1.0
        return {
            "mae": float(np.mean(np.abs(errors))),
            "rmse": float(np.sqrt(np.mean(errors**2))),
            "r2": float(1 - np.sum(errors**2) / total),
        }
    if info.task == "reconstruction":
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


@dataclass
class Evaluation:
    """What `kproto evaluate` shows."""

    source: str
    metrics: dict[str, float]
    report: dict[str, Any] = field(default_factory=dict)
    baselines: dict[str, float] = field(default_factory=dict)
    task: str = ""


def _load_for_evaluation(run: Any, trust: bool, allow_code: bool) -> Any:
    """The run's model, compiled as in training; a custom (Python) loss is re-loaded only with --allow-code."""
    from kproto.runs.load import load_keras_model

    loss = run.recipe.train.loss
    if not (isinstance(loss, dict) and "python" in loss):
        return load_keras_model(run.model_path, trust=trust)
    from kproto.compile import compile_model

    model = load_keras_model(run.model_path, trust=trust, compile=False)
    compile_model(model, run.recipe, run.info, 1, allow_code=allow_code, base=run.path)
    return model


def evaluate_run(
    path: Path, data: Path | None = None, trust: bool = False, judge: Path | None = None, allow_code: bool = False
) -> Evaluation:
    """Evaluate a run (or its .keras file) on its own test split, or on the raw rows of `data`.

    A GAN run is scored on generated samples instead (and by the classifier run `judge`, when given).
    """
    from kproto.data import Preprocessor, load_dataset, transform_rows
    from kproto.data.readers import read_table
    from kproto.runs.load import load_run

    run = load_run(path)
    model = _load_for_evaluation(run, trust, allow_code)
    if run.info.task == "generation":
        from kproto.generate import evaluate_generator

        metrics, report = evaluate_generator(run, model, judge, trust)
        return Evaluation(source="generated samples vs test split", metrics=metrics, report=report, task="generation")
    if judge is not None:
        from kproto.errors import KprotoError

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
        x, y_raw = transform_rows(pre, frame, need_target=run.info.task in ("classification", "regression"))
        source = str(data)
        baselines = {}
    from kproto.engines.streaming import evaluate_blocks, is_streamed

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
    return Evaluation(source=source, metrics=metrics, report=report, baselines=baselines, task=run.info.task)
