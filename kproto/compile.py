"""Resolve the recipe's loss, optimizer, schedule and metrics through Keras, and compile the model."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np

from kproto import catalog
from kproto.errors import CodeNotAllowedError, RecipeError
from kproto.schedules import build_schedule

LOSS_ALIASES = {"mse": "mean_squared_error", "mae": "mean_absolute_error", "mape": "mean_absolute_percentage_error",
                "msle": "mean_squared_logarithmic_error", "kld": "kl_divergence", "bce": "binary_crossentropy"}


@dataclass
class CompiledSetup:
    """What the training loop needs to know about how targets are fed to the model."""

    loss_name: str
    label_mode: str  # sparse, onehot or value
    learning_rate: float
    metric_names: list[str]


def _loss_classes() -> dict[str, type]:
    from keras.src.utils.naming import to_snake_case

    return {
        to_snake_case(obj.__name__): obj
        for obj in vars(keras.losses).values()
        if isinstance(obj, type) and issubclass(obj, keras.losses.Loss) and obj is not keras.losses.Loss
    }


def load_python_object(reference: str, allow_code: bool, field: str, base: Path | None = None) -> Any:
    """`path/to/file.py:function` → the function; only with --allow-code."""
    if not allow_code:
        raise CodeNotAllowedError(
            f"the recipe asks to run Python code from {reference!r}",
            field=field,
            hint="recipes never run code implicitly; pass --allow-code if you trust this file",
        )
    file, sep, attr = reference.rpartition(":")
    if not sep or not file or not attr:
        raise RecipeError(f"expected 'file.py:function', received {reference!r}", field=field)
    path = Path(file)
    if base is not None and not path.is_absolute():
        path = base / path
    if not path.exists():
        raise RecipeError(f"Python file not found: {path}", field=field)
    spec = importlib.util.spec_from_file_location(f"kproto_user_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not hasattr(module, attr):
        raise RecipeError(f"{path} has no attribute {attr!r}", field=field)
    return getattr(module, attr)


def resolve_loss(config: Any, info: Any, label_smoothing: float, allow_code: bool, base: Path | None) -> tuple[Any, str]:
    """A Keras loss object and its canonical name."""
    if isinstance(config, dict) and "python" in config:
        fn = load_python_object(config["python"], allow_code, "train.loss.python", base)
        return fn, "custom"
    name, args = (config, {}) if isinstance(config, str) else (config["name"], {k: v for k, v in config.items() if k != "name"})
    if name == "auto":
        name = {"classification": "sparse_categorical_crossentropy", "regression": "mean_squared_error"}.get(info.task, "mean_squared_error")
    name = LOSS_ALIASES.get(name, name)
    if label_smoothing and "label_smoothing" not in args:
        if name == "sparse_categorical_crossentropy":
            name = "categorical_crossentropy"
        if name in ("categorical_crossentropy", "binary_crossentropy"):
            args["label_smoothing"] = label_smoothing
    classes = _loss_classes()
    if name not in classes:
        raise RecipeError(f"unknown loss '{name}'", field="train.loss")
    try:
        return classes[name](**args), name
    except TypeError as exc:
        raise RecipeError(f"bad options for loss '{name}': {exc}", field="train.loss") from None


def resolve_metrics(names: list[str] | None, info: Any, label_mode: str) -> list[Any]:
    """Keras metric objects named as kproto reports them."""
    if names is None:
        names = ["accuracy"] if info.task == "classification" else ["mae"]
    metrics: list[Any] = []
    for name in names:
        if name == "accuracy":
            metrics.append(
                keras.metrics.SparseCategoricalAccuracy(name="accuracy")
                if label_mode == "sparse"
                else keras.metrics.CategoricalAccuracy(name="accuracy")
            )
        elif name == "precision":
            metrics.append(keras.metrics.Precision(name="precision"))
        elif name == "recall":
            metrics.append(keras.metrics.Recall(name="recall"))
        elif name == "auc":
            metrics.append(keras.metrics.AUC(name="auc"))
        elif name == "f1":
            metrics.append(keras.metrics.F1Score(average="macro", name="f1"))
        elif name == "top_k_accuracy":
            metrics.append(keras.metrics.TopKCategoricalAccuracy(k=min(5, max(info.num_classes - 1, 1)), name="top_k_accuracy"))
        elif name == "mae":
            metrics.append(keras.metrics.MeanAbsoluteError(name="mae"))
        elif name == "mse":
            metrics.append(keras.metrics.MeanSquaredError(name="mse"))
        elif name == "rmse":
            metrics.append(keras.metrics.RootMeanSquaredError(name="rmse"))
        elif name == "r2":
            metrics.append(keras.metrics.R2Score(name="r2"))
        elif name == "mape":
            metrics.append(keras.metrics.MeanAbsolutePercentageError(name="mape"))
        else:  # pragma: no cover - the loader checks names
            raise RecipeError(f"unknown metric '{name}'", field="train.metrics")
    return metrics


def label_mode_for(info: Any, loss_name: str, metric_names: list[str]) -> str:
    """sparse (class indices), onehot, or value (regression and reconstruction)."""
    if info.task != "classification":
        return "value"
    if loss_name in catalog.ONE_HOT_LOSSES or any(m in catalog.ONE_HOT_METRICS for m in metric_names):
        return "onehot"
    if loss_name == "custom":
        return "sparse"
    return "sparse"


def resolve_optimizer(config: Any, schedule_spec: Any, steps_per_epoch: int, epochs: int) -> tuple[Any, float]:
    """A Keras optimizer with its schedule, and the base learning rate."""
    name, args = (config, {}) if isinstance(config, str) else (config["name"], {k: v for k, v in config.items() if k != "name"})
    learning_rate = float(args.pop("learning_rate", 1e-3 if name not in ("sgd", "adadelta") else (0.01 if name == "sgd" else 1.0)))
    if learning_rate <= 0:
        raise RecipeError(f"the learning rate must be positive; received {learning_rate}", field="train.optimizer.learning_rate")
    rate = build_schedule(schedule_spec, learning_rate, steps_per_epoch, epochs)
    try:
        optimizer = keras.optimizers.get({"class_name": name, "config": {"learning_rate": rate, **args}})
    except (TypeError, ValueError) as exc:
        raise RecipeError(f"bad options for optimizer '{name}': {exc}", field="train.optimizer") from None
    return optimizer, learning_rate


def compile_model(model: keras.Model, recipe: Any, info: Any, steps_per_epoch: int, *, allow_code: bool = False,
                  base: Path | None = None, jit_compile: Any = "auto", steps_per_execution: int = 1) -> CompiledSetup:
    """Compile `model` as the recipe says; returns how labels must be encoded."""
    train = recipe.train
    loss, loss_name = resolve_loss(train.loss, info, train.label_smoothing, allow_code, base)
    metric_names = list(train.metrics) if train.metrics is not None else (["accuracy"] if info.task == "classification" else ["mae"])
    mode = label_mode_for(info, loss_name, metric_names)
    optimizer, learning_rate = resolve_optimizer(train.optimizer, train.schedule, steps_per_epoch, train.epochs)
    model.compile(
        optimizer=optimizer,
        loss=loss,
        metrics=resolve_metrics(metric_names, info, mode),
        jit_compile=jit_compile,
        steps_per_execution=steps_per_execution,
    )
    return CompiledSetup(loss_name=loss_name, label_mode=mode, learning_rate=learning_rate, metric_names=metric_names)


def encode_labels(y: np.ndarray | None, mode: str, num_classes: int) -> np.ndarray | None:
    """Targets as the compiled loss expects them."""
    if y is None:
        return None
    if mode == "onehot":
        return np.eye(num_classes, dtype=np.float32)[y]
    if mode == "value":
        return y.astype(np.float32).reshape(len(y), -1) if y.ndim == 1 else y.astype(np.float32)
    return y.astype(np.int32)


def class_weights(setting: Any, y: np.ndarray, class_names: list[Any]) -> np.ndarray | None:
    """Per-row sample weights from `train.class_weight` (balanced or a label → weight map)."""
    if setting is None:
        return None
    n = len(class_names)
    if setting == "balanced":
        counts = np.bincount(y, minlength=n).astype(np.float64)
        weights = len(y) / (n * np.maximum(counts, 1))
    else:
        lookup = {str(c): i for i, c in enumerate(class_names)}
        weights = np.ones(n)
        for label, weight in setting.items():
            if str(label) not in lookup:
                raise RecipeError(
                    f"class_weight names the label {label!r}, which is not a class",
                    field="train.class_weight",
                    hint=f"classes: {', '.join(map(str, class_names))}",
                )
            weights[lookup[str(label)]] = float(weight)
    return weights[y].astype(np.float32)
