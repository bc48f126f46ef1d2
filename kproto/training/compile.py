"""Resolve the recipe's loss, optimizer, schedule and metrics through Keras, and compile the model."""

from __future__ import annotations

import importlib.util
import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import keras
import numpy as np

from kproto.core import catalog
from kproto.core.errors import CodeNotAllowedError, RecipeError, suggest
from kproto.training.schedules import build_schedule

if TYPE_CHECKING:
    from kproto.core.fields import ModelBase
    from kproto.data.types import DataInfo
    from kproto.recipe.schema import Recipe

LOSS_ALIASES = {
    "mse": "mean_squared_error",
    "mae": "mean_absolute_error",
    "mape": "mean_absolute_percentage_error",
    "msle": "mean_squared_logarithmic_error",
    "kld": "kl_divergence",
    "bce": "binary_crossentropy",
}
DEFAULT_RATES = {"sgd": 0.01, "adadelta": 1.0}
# `train.loss: auto` and the default `train.metrics` of each task (regression and reconstruction: MSE and MAE).
DEFAULT_LOSSES = {
    "classification": "sparse_categorical_crossentropy",
    "seq2seq": "sparse_categorical_crossentropy",  # next-token targets; padding (id 0) is ignored
    "ranking": "binary_crossentropy",  # observed interactions against sampled negatives
}
DEFAULT_METRICS = {"classification": ["accuracy"], "seq2seq": ["token_accuracy"], "ranking": ["auc"]}


def default_metrics(task: str) -> list[str]:
    """The metrics logged when `train.metrics` is not given."""
    return list(DEFAULT_METRICS.get(task, ["mae"]))


@dataclass
class CompiledSetup:
    """What the training loop needs to know about how targets are fed to the model."""

    loss_name: str
    label_mode: str  # sparse, onehot or value
    learning_rate: float
    metric_names: list[str]
    outputs: str = "probabilities"  # or "logits" (from_logits: true): apply softmax to read probabilities


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


def _split(config: Any, what: str) -> tuple[str, dict[str, Any]]:
    if isinstance(config, str):
        return config, {}
    if not isinstance(config, dict) or "name" not in config:
        raise RecipeError(
            f"expected a {what} name or a mapping with `name`, received {config!r}", field=f"train.{what}"
        )
    return config["name"], {k: v for k, v in config.items() if k != "name"}


def loss_name_of(config: Any, task: str) -> str:
    """The canonical Keras name of `train.loss` ('custom' for Python losses); `auto` resolved from the task."""
    if isinstance(config, dict) and "python" in config:
        return "custom"
    name, _ = _split(config, "loss")
    if name == "auto":
        name = DEFAULT_LOSSES.get(task, "mean_squared_error")
    return LOSS_ALIASES.get(name, name)


def from_logits(train: Any) -> bool:
    """True when `train.loss` says the model's output is logits (`{name: ..., from_logits: true}`)."""
    return isinstance(train.loss, dict) and bool(train.loss.get("from_logits", False))


def model_spec_for(recipe: Recipe) -> Any:
    """The model spec to build: with `from_logits: true` the output activation becomes linear.

    A recipe that asks for logits *and* names a squashing output activation contradicts itself: refused.
    """
    spec = recipe.model
    if not from_logits(recipe.train):
        return spec
    if spec.output_activation not in (None, "linear"):
        raise RecipeError(
            f"train.loss has from_logits: true, but model.output_activation is '{spec.output_activation}'",
            field="train.loss.from_logits",
            hint="with from_logits the model outputs raw scores: drop model.output_activation (or set it to linear)",
        )
    return spec.model_copy(update={"output_activation": "linear"})


def _reject_unknown_options(args: dict[str, Any], allowed: list[str], what: str, field: str, listing: str) -> None:
    """A RecipeError naming the first option `what` does not take, with a 'did you mean'."""
    unknown = sorted(set(args) - set(allowed))
    if unknown:
        guess = suggest(unknown[0], allowed)
        raise RecipeError(
            f"{what} has no option '{unknown[0]}'" + (f"; did you mean '{guess}'?" if guess else ""),
            field=f"{field}.{unknown[0]}",
            hint=f"{listing}: {', '.join(allowed)}",
        )


def resolve_loss(
    config: Any, info: DataInfo, label_smoothing: float, allow_code: bool, base: Path | None, onehot: bool = False
) -> tuple[Any, str]:
    """A Keras loss object and its canonical name (`onehot`: labels will be one-hot, so sparse CE → categorical CE)."""
    if isinstance(config, dict) and "python" in config:
        extra = sorted(set(config) - {"python", "labels"})
        if extra:
            raise RecipeError(
                f"a Python loss takes only `python` and `labels`; received {', '.join(extra)}", field="train.loss"
            )
        if config.get("labels", "onehot") not in ("onehot", "sparse"):
            raise RecipeError(
                f"labels must be onehot or sparse; received {config['labels']!r}", field="train.loss.labels"
            )
        fn = load_python_object(config["python"], allow_code, "train.loss.python", base)
        if not callable(fn):
            raise RecipeError(f"{config['python']} is not a function", field="train.loss.python")
        return fn, "custom"
    name = loss_name_of(config, info.task)
    _, args = _split(config, "loss")
    smoothing = args.pop("label_smoothing", label_smoothing) or 0.0
    if info.task == catalog.SEQ2SEQ and name == "sparse_categorical_crossentropy":
        args.setdefault("ignore_class", 0)  # padding after [END] is not a target
    if onehot and name == "sparse_categorical_crossentropy":  # the same loss on one-hot labels
        name = "categorical_crossentropy"
    if smoothing:
        if name == "sparse_categorical_crossentropy":  # Keras smooths one-hot labels only
            name = "categorical_crossentropy"
        if name not in (
            "categorical_crossentropy",
            "binary_crossentropy",
            "categorical_focal_crossentropy",
            "binary_focal_crossentropy",
        ):
            raise RecipeError(
                f"label smoothing needs a cross-entropy loss, not '{name}'", field="train.label_smoothing"
            )
        args["label_smoothing"] = float(smoothing)
    classes = _loss_classes()
    if name not in classes:
        raise RecipeError(f"unknown loss '{name}'", field="train.loss")
    allowed = [p for p in inspect.signature(classes[name].__init__).parameters if p not in ("self", "args", "kwargs")]
    _reject_unknown_options(args, allowed, f"the loss '{name}'", "train.loss", "options")
    if args.get("from_logits") and info.task != catalog.CLASSIFICATION:
        raise RecipeError("from_logits only applies to classification losses", field="train.loss.from_logits")
    try:
        return classes[name](**args), name
    except (TypeError, ValueError) as exc:
        raise RecipeError(f"bad options for loss '{name}': {exc}", field="train.loss") from None


def _on_probabilities(cls: type) -> type:
    """A subclass of a threshold metric that applies softmax to a logits output before updating."""

    class OnProbabilities(cls):  # type: ignore[misc, valid-type]
        def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> Any:
            return super().update_state(y_true, keras.ops.softmax(y_pred, axis=-1), sample_weight)

    OnProbabilities.__name__ = OnProbabilities.__qualname__ = f"Logits{cls.__name__}"
    return keras.saving.register_keras_serializable(package="kproto")(OnProbabilities)


LogitsPrecision = _on_probabilities(keras.metrics.Precision)
LogitsRecall = _on_probabilities(keras.metrics.Recall)
LogitsAUC = _on_probabilities(keras.metrics.AUC)


_ON_PROBABILITIES = {"Precision": LogitsPrecision, "Recall": LogitsRecall, "AUC": LogitsAUC}


def metric_class(class_name: str) -> type:
    """A catalog metric's class: a keras.metrics name, or "module:Class" for one of kproto's own."""
    if ":" in class_name:
        module, _, attr = class_name.partition(":")
        return getattr(importlib.import_module(module), attr)
    return getattr(keras.metrics, class_name)


def resolve_metrics(names: list[str] | None, info: DataInfo, label_mode: str, logits: bool = False) -> list[Any]:
    """Keras metric objects named as kproto reports them (threshold metrics read probabilities, also from logits).

    Each name's Keras class, label form and options come from its `catalog.METRICS` entry.
    """
    if names is None:
        names = default_metrics(info.task)
    metrics: list[Any] = []
    for name in names:
        entry = catalog.METRICS.get(name)
        if entry is None:
            raise RecipeError(
                f"unknown metric '{name}'", field="train.metrics", hint=f"one of {', '.join(sorted(catalog.METRICS))}"
            )
        class_name = entry.sparse_class if entry.sparse_class and label_mode == "sparse" else entry.keras_class
        cls = _ON_PROBABILITIES[class_name] if entry.on_probabilities and logits else metric_class(class_name)
        options: dict[str, Any] = dict(entry.options)
        if "TopK" in class_name:  # the top 5, or fewer with few classes
            options["k"] = min(5, max(info.num_classes - 1, 1))
        if class_name in (catalog.CLASS_SCORE, catalog.CLASS_AUC):  # kproto's own: positive class or macro
            options.update(num_classes=max(int(info.num_classes or 2), 2), logits=logits)
        metrics.append(cls(name=name, **options))
    return metrics


def label_mode_for(info: DataInfo, loss_name: str, metric_names: list[str], custom_labels: str = "onehot") -> str:
    """sparse (class indices), onehot, or value (regression and reconstruction).

    Every classification loss but sparse categorical cross-entropy compares the output vector with a label vector,
    so labels are one-hot encoded for them (and for metrics that need vectors). Hinge losses map the 0/1 entries
    to -1/+1 themselves. A custom Python loss gets one-hot rows unless it says `labels: sparse`.
    """
    if info.task != catalog.CLASSIFICATION:
        return "value"
    if loss_name == "custom":
        return custom_labels
    if loss_name == "sparse_categorical_crossentropy":
        return "onehot" if any(m in catalog.ONE_HOT_METRICS for m in metric_names) else "sparse"
    return "onehot"


def optimizer_options(name: str) -> list[str]:
    """Option names a Keras optimizer accepts (its own and the shared weight_decay, clipnorm, use_ema, ...)."""
    cls = type(keras.optimizers.get(name))
    return [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "name", "kwargs")]


def resolve_optimizer(config: Any, schedule_spec: Any, steps_per_epoch: int, epochs: int) -> tuple[Any, float]:
    """A Keras optimizer with its schedule, and the base learning rate."""
    name, args = _split(config, "optimizer")
    learning_rate = float(args.pop("learning_rate", DEFAULT_RATES.get(name, 1e-3)))
    if learning_rate <= 0:
        raise RecipeError(
            f"the learning rate must be positive; received {learning_rate}", field="train.optimizer.learning_rate"
        )
    try:
        allowed = optimizer_options(name)
    except ValueError:
        raise RecipeError(
            f"unknown optimizer '{name}'",
            field="train.optimizer",
            hint=f"one of {', '.join(sorted(catalog.OPTIMIZERS))}",
        ) from None
    _reject_unknown_options(args, allowed, f"train.optimizer '{name}'", "train.optimizer", f"options of {name}")
    clipping = [k for k in ("clipnorm", "clipvalue", "global_clipnorm") if args.get(k) is not None]
    if len(clipping) > 1:
        raise RecipeError(
            f"choose one of {', '.join(clipping)}; Keras applies only one kind of gradient clipping",
            field=f"train.optimizer.{clipping[1]}",
        )
    rate = build_schedule(schedule_spec, learning_rate, steps_per_epoch, epochs)
    try:
        optimizer = keras.optimizers.get({"class_name": name, "config": {"learning_rate": rate, **args}})
    except (TypeError, ValueError) as exc:
        raise RecipeError(f"bad options for train.optimizer '{name}': {exc}", field="train.optimizer") from None
    return optimizer, learning_rate


def check_layer_regularizers(model: keras.Model, spec: ModelBase) -> None:
    """Every layer named in `model.layer_regularizers` must exist and take regularizers."""
    wanted = dict(spec.layer_regularizers)
    if not wanted:
        return
    names = [layer.name for layer in model._flatten_layers(include_self=False) if hasattr(layer, "kernel_regularizer")]
    for name in wanted:
        if name not in names:
            guess = suggest(name, names)
            raise RecipeError(
                f"model.layer_regularizers names the layer '{name}', which this model does not have"
                + (f"; did you mean '{guess}'?" if guess else ""),
                field=f"model.layer_regularizers.{name}",
                hint=f"layers with weights: {', '.join(names)}",
            )


def compile_model(
    model: keras.Model,
    recipe: Recipe,
    info: DataInfo,
    steps_per_epoch: int,
    *,
    allow_code: bool = False,
    base: Path | None = None,
    jit_compile: Any = "auto",
    steps_per_execution: int = 1,
) -> CompiledSetup:
    """Compile `model` as the recipe says; returns how labels must be encoded."""
    train = recipe.train
    check_layer_regularizers(model, recipe.model)
    metric_names = list(train.metrics) if train.metrics is not None else default_metrics(info.task)
    needs_onehot = any(m in catalog.ONE_HOT_METRICS for m in metric_names)
    loss, loss_name = resolve_loss(train.loss, info, train.label_smoothing, allow_code, base, onehot=needs_onehot)
    logits = from_logits(train)
    custom_labels = train.loss.get("labels", "onehot") if isinstance(train.loss, dict) else "onehot"
    mode = label_mode_for(info, loss_name, metric_names, custom_labels)
    optimizer, learning_rate = resolve_optimizer(train.optimizer, train.schedule, steps_per_epoch, train.epochs)
    model.compile(
        optimizer=optimizer,
        loss=loss,
        metrics=resolve_metrics(metric_names, info, mode, logits),
        jit_compile=jit_compile,
        steps_per_execution=steps_per_execution,
    )
    return CompiledSetup(
        loss_name=loss_name,
        label_mode=mode,
        learning_rate=learning_rate,
        metric_names=metric_names,
        outputs="logits" if logits else "probabilities",
    )


def encode_labels(y: np.ndarray | None, mode: str, num_classes: int) -> np.ndarray | None:
    """Targets as the compiled loss expects them."""
    if y is None:
        return None
    if mode == "onehot":
        return np.eye(num_classes, dtype=np.float32)[np.asarray(y).astype(np.int64).reshape(-1)]
    if mode == "value":
        return y.astype(np.float32)[:, None] if y.ndim == 1 else y.astype(np.float32)  # [:, None]: empty splits too
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
            if not float(weight) >= 0:
                raise RecipeError(
                    f"class weights must be non-negative; received {weight!r} for {label!r}", field="train.class_weight"
                )
            weights[lookup[str(label)]] = float(weight)
    return weights[y].astype(np.float32)
