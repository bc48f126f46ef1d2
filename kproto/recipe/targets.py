"""Several targets in one recipe: `data.target: [a, b]` and the per-target forms of the `train:` settings.

A per-target setting is a mapping from target names to values (`train.loss: {a: auto, b: mse}`); a target it does
not name gets the setting's default. `for_target` turns a recipe with several targets into the single-target recipe
of one of them, so each target's loss, metrics, calibration, threshold and scores reuse the single-target code.
Importing this module never imports Keras.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kproto.core import catalog
from kproto.core.errors import RecipeError, suggest

# train.<field>: its default for a target a per-target mapping leaves out.
PER_TARGET_DEFAULTS: dict[str, Any] = {
    "loss": "auto",
    "loss_weights": 1.0,
    "metrics": None,
    "class_weight": None,
    "calibrate": "auto",
    "threshold": 0.5,
    "threshold_metric": "f1",
    "positive_class": None,
}
# Settings a recipe with several targets cannot take (the field, why).
SINGLE_TARGET_ONLY = {
    ("data", "window"): "a forecast predicts one series' future",
    ("data", "classes"): "it keeps the rows of one target's classes",
    ("data", "rows_per_class"): "it counts the rows of one target's classes",
    ("train", "adversarial"): "adversarial training attacks one target's loss",
}
Raise = Callable[..., RecipeError]  # (path, message, hint=...) → the error to raise, located in the recipe


def target_names(data: Any) -> list[str]:
    """The target columns of a recipe's `data:` section (empty without a target)."""
    target = getattr(data, "target", None)
    if target is None:
        return []
    return [target] if isinstance(target, str) else list(target)


def several(recipe: Any) -> bool:
    """True when the recipe predicts several target columns with one model."""
    return len(target_names(getattr(recipe, "data", None))) > 1


def is_per_target(field: str, value: Any) -> bool:
    """Whether `train.<field>`'s value is a per-target mapping (rather than one value for every target)."""
    if not isinstance(value, dict):
        return False
    if field == "loss":
        return "name" not in value and "python" not in value
    if field == "class_weight":  # a single target's map is label → number
        return any(isinstance(v, dict) or v == "balanced" or v is None for v in value.values())
    return True


def setting(train: Any, field: str, target: str, names: list[str]) -> Any:
    """`train.<field>` for one target: its entry in a per-target mapping, else the shared value."""
    value = getattr(train, field)
    if len(names) > 1 and (field == "loss_weights" or is_per_target(field, value)):
        return (value or {}).get(target, PER_TARGET_DEFAULTS[field])
    return value


def for_target(recipe: Any, target: str) -> Any:
    """The single-target recipe of one of the recipe's targets: `data.target` is that column, and every per-target
    `train:` setting is that target's value."""
    names = target_names(recipe.data)
    train_updates = {f: setting(recipe.train, f, target, names) for f in PER_TARGET_DEFAULTS if f != "loss_weights"}
    train = recipe.train.model_copy(update={**train_updates, "loss_weights": None})
    data = recipe.data.model_copy(update={"target": target})
    return recipe.model_copy(update={"data": data, "train": train})


def check_targets(recipe: Any, error: Raise) -> None:
    """The rules of `data.target` lists and per-target settings; `error(path, message, hint=)` locates the field."""
    names = target_names(recipe.data)
    train = recipe.train
    if len(names) <= 1:
        for field in PER_TARGET_DEFAULTS:
            value = getattr(train, field)
            if field == "loss":
                continue  # a loss mapping without `name` is refused by the loss rule
            if (value is not None) if field == "loss_weights" else is_per_target(field, value):
                raise error(
                    ("train", field),
                    f"train.{field} is a per-target mapping, but data.target names "
                    + (f"one target ('{names[0]}')" if names else "no target"),
                    hint=f"write one value for train.{field}, or list several targets in data.target",
                )
        return
    if "loss" in names:  # metrics.json's split blocks hold the total `loss` beside one block per target
        raise error(
            ("data", "target"),
            "a target named 'loss' cannot sit beside the total loss of several targets",
            hint="rename the column in the data file",
        )
    family = catalog.family(recipe.model.type)
    if not family.multi_output:
        able = ", ".join(n for n, f in catalog.FAMILIES.items() if f.multi_output)
        raise error(
            ("data", "target"),
            f"data.target lists {len(names)} targets, but {'an' if family.name[0] in 'aeiou' else 'a'} "
            f"{family.name} model predicts one",
            hint=f"families with one output head per target: {able}",
        )
    for path, why in SINGLE_TARGET_ONLY.items():
        section = recipe.data if path[0] == "data" else recipe.train
        if getattr(section, path[1]) is not None:
            raise error(path, f"{'.'.join(path)} works with one target: {why}", hint=f"remove {'.'.join(path)}")
    if recipe.data.balance != "none":
        raise error(
            ("data", "balance"),
            "data.balance rebalances one target's classes; data.target lists several",
            hint="use train.class_weight: {target: balanced} instead",
        )
    if recipe.train.distribute != "none" or recipe.train.engine not in ("auto", "fit"):
        field = "distribute" if recipe.train.distribute != "none" else "engine"
        raise error(
            ("train", field),
            f"train.{field}: {getattr(train, field)} trains one target; several targets train with engine: fit",
            hint=f"remove train.{field}",
        )
    if recipe.data.features is not None:
        both = [n for n in names if n in recipe.data.features]
        if both:
            raise error(("data", "features"), f"the target '{both[0]}' is also listed as a feature")
    for field in PER_TARGET_DEFAULTS:
        value = getattr(train, field)
        if field == "class_weight" and isinstance(value, dict) and not is_per_target(field, value):
            raise error(
                ("train", field),
                "with several targets, train.class_weight is balanced or a per-target mapping "
                "({target: balanced | {label: weight}})",
                hint=f"e.g. class_weight: {{{names[0]}: balanced}}",
            )
        if field == "loss_weights" or is_per_target(field, value):
            _check_keys(field, value or {}, names, error)


def _check_keys(field: str, mapping: dict[str, Any], names: list[str], error: Raise) -> None:
    for key, value in mapping.items():
        if key not in names:
            guess = suggest(str(key), names)
            raise error(
                ("train", field, key),
                f"train.{field} names '{key}', which is not a target" + (f"; did you mean '{guess}'?" if guess else ""),
                hint=f"targets (data.target): {', '.join(names)}",
            )
        if field == "loss_weights" and not (isinstance(value, int | float) and value >= 0):
            raise error(("train", field, key), f"a loss weight is a number ≥ 0; received {value!r}")
        if field == "loss" and isinstance(value, dict) and "name" not in value and "python" not in value:
            raise error(("train", field, key), "a loss mapping needs `name` (or `python: file.py:function`)")


def checked_metrics(names: list[str], task: str, field: str) -> None:
    """A RecipeError when a metric of `names` belongs to the other task (a target's metrics against its task)."""
    for name in names:
        wrong = (task == catalog.REGRESSION and name in catalog.CLASSIFICATION_METRICS) or (
            task == catalog.CLASSIFICATION and name in catalog.REGRESSION_METRICS - {"mse", "mae"}
        )
        if wrong:
            other = "classification" if task == catalog.REGRESSION else "regression"
            raise RecipeError(f"'{name}' is a {other} metric but the target's task is {task}", field=field)
