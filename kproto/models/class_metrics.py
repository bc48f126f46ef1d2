"""Keras metrics logged each epoch under the names kproto.metrics.classification defines.

Epoch logs decide at argmax (for two classes: the positive class when its probability reaches 0.5; the run's own
threshold is chosen after training); the final numbers in metrics.json are computed by
kproto.metrics.classification with the run's decisions.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

STATISTICS = ("precision", "recall", "f1", "macro_f1", "balanced_accuracy")


def _class_indices(y_true: Any, classes: int) -> Any:
    """Integer labels from sparse ([b] or [b, 1]) or one-hot ([b, classes]) targets."""
    if len(y_true.shape) >= 2 and y_true.shape[-1] == classes and classes > 1:
        return ops.argmax(y_true, axis=-1)
    return ops.cast(ops.reshape(y_true, (-1,)), "int32")


@keras.saving.register_keras_serializable(package="kproto")
class ClassScore(keras.metrics.Metric):
    """A score of decided classes from an accumulated confusion matrix: `statistic` of the positive class (two
    classes: precision, recall, f1) or averaged over the classes (macro_f1, balanced_accuracy; and precision,
    recall, f1 with more classes)."""

    def __init__(
        self, statistic: str = "f1", num_classes: int = 2, logits: bool = False, name: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(name=name or statistic, **kwargs)
        self.logits = bool(logits)
        if statistic not in STATISTICS:
            raise ValueError(f"statistic must be one of {STATISTICS}; received {statistic!r}")
        self.statistic = statistic
        self.num_classes = int(num_classes)
        self.confusion = self.add_variable(
            shape=(self.num_classes, self.num_classes), initializer="zeros", name="confusion", dtype="float32"
        )

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        k = self.num_classes
        actual = ops.one_hot(_class_indices(y_true, k), k, dtype="float32")
        if y_pred.shape[-1] == 1:  # one sigmoid unit (a ranking model): positive from 0.5 (0 for logits)
            cut = 0.0 if self.logits else 0.5
            decided = ops.one_hot(ops.cast(ops.reshape(y_pred, (-1,)) >= cut, "int32"), k, dtype="float32")
        else:
            decided = ops.one_hot(ops.argmax(y_pred, axis=-1), k, dtype="float32")
        if sample_weight is not None:
            actual = actual * ops.reshape(ops.cast(sample_weight, "float32"), (-1, 1))
        self.confusion.assign_add(ops.matmul(ops.transpose(actual), decided))

    def result(self) -> Any:
        confusion = ops.convert_to_tensor(self.confusion)
        tp = ops.diagonal(confusion)
        actual = ops.sum(confusion, axis=1)
        predicted = ops.sum(confusion, axis=0)
        precision = ops.divide_no_nan(tp, predicted)
        recall = ops.divide_no_nan(tp, actual)
        f1 = ops.divide_no_nan(2.0 * tp, actual + predicted)
        if self.statistic == "balanced_accuracy":
            present = ops.cast(actual > 0, "float32")
            return ops.divide_no_nan(ops.sum(recall * present), ops.sum(present))
        values = {"precision": precision, "recall": recall, "f1": f1, "macro_f1": f1}[self.statistic]
        if self.num_classes == 2 and self.statistic != "macro_f1":
            return values[1]
        return ops.mean(values)

    def reset_state(self) -> None:
        self.confusion.assign(ops.zeros((self.num_classes, self.num_classes), dtype="float32"))

    def get_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "dtype": self.dtype,
            "statistic": self.statistic,
            "num_classes": self.num_classes,
            "logits": self.logits,
        }


@keras.saving.register_keras_serializable(package="kproto")
class ClassAUC(keras.metrics.AUC):
    """ROC AUC (`curve="ROC"`) or PR AUC (`curve="PR"`) of the positive class (two classes), or one-vs-rest
    averaged over the classes; softmax is applied first when the model outputs logits."""

    def __init__(
        self, curve: str = "ROC", num_classes: int = 2, logits: bool = False, name: str | None = None, **kwargs: Any
    ) -> None:
        for key in ("multi_label", "num_labels", "from_logits", "num_thresholds", "summation_method", "thresholds"):
            kwargs.pop(key, None)
        self.num_classes = int(num_classes)
        self.logits = bool(logits)
        multi = self.num_classes > 2
        super().__init__(
            curve=curve,
            name=name,
            multi_label=multi,
            num_labels=self.num_classes if multi else None,
            **kwargs,
        )

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> Any:
        k = self.num_classes
        if y_pred.shape[-1] == 1:  # one sigmoid unit (a ranking model): its output is p(positive)
            scores = ops.reshape(ops.sigmoid(y_pred) if self.logits else y_pred, (-1,))
            return super().update_state(ops.reshape(y_true, (-1,)), scores, sample_weight)
        if self.logits:
            y_pred = ops.softmax(y_pred, axis=-1)
        actual = ops.one_hot(_class_indices(y_true, k), k, dtype="float32")
        if k == 2:
            return super().update_state(actual[:, 1], y_pred[:, 1], sample_weight)
        return super().update_state(actual, y_pred, sample_weight)

    def get_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "dtype": self.dtype,
            "curve": self.curve.value if hasattr(self.curve, "value") else str(self.curve),
            "num_classes": self.num_classes,
            "logits": self.logits,
        }
