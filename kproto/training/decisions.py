"""After training: calibration, the binary threshold and conformal scores, all fitted on the validation split.

What this returns goes into metrics.json ("calibration", "threshold") and the run file layout.CONFORMAL.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from kproto.core import catalog
from kproto.metrics.calibration import (
    Calibration,
    expected_calibration_error,
    fit_calibration,
    fit_threshold,
    log_probabilities,
    threshold_score,
)
from kproto.metrics.conformal import Conformal, classification_scores, regression_scores

if TYPE_CHECKING:
    import keras

    from kproto.data.types import DataInfo, Dataset


@dataclass
class FittedDecisions:
    """metrics.json fields and the conformal scores of a finished run."""

    metrics: dict[str, Any] = field(default_factory=dict)
    conformal: Conformal | None = None


def positive_class(info: DataInfo) -> dict[str, Any]:
    """metrics.json's `positive_class`: the label auc, pr_auc, precision, recall, f1 and the threshold are about
    (two-class runs only: the second class, which `train.positive_class` puts there)."""
    names = info.class_names or []
    return {"positive_class": names[1]} if info.task == catalog.CLASSIFICATION and len(names) == 2 else {}


def validation_uses(stopping: Any, monitor: str, decision_metrics: dict[str, Any]) -> dict[str, Any]:
    """metrics.json's `validation_used_for`: what the validation rows chose besides being scored (the epoch kept or
    when to stop, the calibration, the threshold). Numbers on rows that chose something look better than new rows
    would make them; {} when they chose nothing."""
    uses = []
    if stopping is not None and monitor.startswith("val_"):
        uses.append("the epoch kept" if stopping.restore_best else "when training stopped")
    for name in ("calibration", "threshold"):
        if (decision_metrics.get(name) or {}).get("chosen_on") == "validation":
            uses.append(f"the {name}")
    return {"validation_used_for": uses} if uses else {}


def _outputs(model: keras.Model, x: Any, batch_size: int) -> np.ndarray:
    return np.asarray(model.predict(x, batch_size=max(batch_size, 256), verbose=0))


def fit_decisions(model: keras.Model, dataset: Dataset, train: Any, outputs: str, batch_size: int) -> FittedDecisions:
    """Fit `train.calibrate`, `train.threshold` and split-conformal scores on the validation split; ECE and the
    threshold's metric are also measured on the test split."""
    from kproto.training.engines.streaming import is_streamed

    info = dataset.info
    if info.task not in catalog.SUPERVISED_TASKS or dataset.y_val is None or len(dataset.x_val) == 0:
        return FittedDecisions()
    if is_streamed(dataset.x_val):  # data on disk: decisions stay the plain ones
        return FittedDecisions()
    y_val = np.asarray(dataset.y_val)
    val = _outputs(model, dataset.x_val, batch_size)
    has_test = dataset.y_test is not None and len(dataset.x_test) > 0 and not is_streamed(dataset.x_test)
    test = _outputs(model, dataset.x_test, batch_size) if has_test else None
    y_test = np.asarray(dataset.y_test) if has_test else None
    if info.task == catalog.REGRESSION and getattr(dataset, "forecast", None) is not None:  # per forecast step
        from kproto.training.forecasting import step_scores

        steps = step_scores(model, dataset, batch_size)
        if steps is None:
            return FittedDecisions()
        return FittedDecisions(conformal=Conformal.fit("regression", steps.reshape(-1), steps=steps))
    if info.task == catalog.REGRESSION:
        scores = regression_scores(val.reshape(len(val), -1)[:, 0], y_val)
        return FittedDecisions(conformal=Conformal.fit("regression", scores))
    logits = outputs == "logits"
    val_log = log_probabilities(val, logits)
    test_log = log_probabilities(test, logits) if test is not None else None
    calibration = fit_calibration(train.calibrate, val_log, y_val.astype(int), test_log, y_test)
    if calibration.method == "none" and test_log is not None:
        plain = expected_calibration_error(np.exp(test_log), y_test)
        calibration = Calibration("none", 1.0, plain, plain)
    val_p = calibration.apply(val_log)
    metrics: dict[str, Any] = {"calibration": calibration.to_dict()}
    if calibration.method != "none":  # its ECE before and after are the test split's: the decision's test effect
        metrics["calibration"]["chosen_on"] = "validation"
    threshold = fit_threshold(train.threshold, train.threshold_metric, val_p, y_val.astype(int))
    if threshold is not None:
        if test_log is not None:
            test_p = calibration.apply(test_log)[:, 1]
            threshold["test_at_0.5"] = threshold_score(train.threshold_metric, test_p, y_test, 0.5)
            threshold["test_at_threshold"] = threshold_score(train.threshold_metric, test_p, y_test, threshold["value"])
        metrics["threshold"] = threshold
    conformal = Conformal.fit("classification", classification_scores(val_p, y_val.astype(int)))
    return FittedDecisions(metrics=metrics, conformal=conformal)
