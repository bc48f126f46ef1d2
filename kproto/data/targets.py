"""Several targets (`data.target: [a, b]`): one encoded array per target column, and per-target views.

The preprocessing state of such a run keeps its features as a single-target run does and lists each target's
encoding in `state["targets"]` (class names, or the regression mean and spread); `DataInfo.targets` holds the same
facts for the model builder (`target_entry`). `target_dataset`, `target_info` and `target_preprocessor` give the
single-target view of one target, so its scores, decisions and answers reuse the single-target code.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from kproto.core import catalog
from kproto.core.errors import DataError
from kproto.data.preprocess import Preprocessor, infer_task, positive_last
from kproto.data.readers import check_path, missing_column_error, read_table
from kproto.data.types import DataInfo, Dataset
from kproto.recipe.targets import for_target, target_names

if TYPE_CHECKING:
    from collections.abc import Callable

    from kproto.recipe.schema import Recipe


def target_entry(name: str, task: str, encoding: dict[str, Any]) -> dict[str, Any]:
    """What a model head and the answers need to know about one target (an item of `DataInfo.targets`)."""
    classes = encoding.get("classes")
    return {
        "name": name,
        "task": task,
        "num_classes": len(classes) if classes else 0,
        "class_names": list(classes) if classes else None,
        "target_mean": float(encoding.get("mean", 0.0)),
        "target_std": float(encoding.get("std", 1.0)),
    }


def names_of(info: DataInfo) -> list[str]:
    """The target names of a run with several targets (empty for any other run)."""
    return [entry["name"] for entry in info.targets]


def is_several(info: DataInfo) -> bool:
    return info.task == catalog.MULTI_TARGET and bool(info.targets)


def target_info(info: DataInfo, name: str) -> DataInfo:
    """The single-target DataInfo of one target."""
    entry = next(e for e in info.targets if e["name"] == name)
    return replace(
        info,
        task=entry["task"],
        num_classes=entry["num_classes"],
        class_names=entry["class_names"],
        target_mean=entry["target_mean"],
        target_std=entry["target_std"],
        targets=[],
    )


def target_preprocessor(pre: Preprocessor, name: str) -> Preprocessor:
    """The single-target preprocessing of one target (the features' state is shared, not copied)."""
    encoding = next(t for t in pre.state["targets"] if t["name"] == name)
    state = {k: v for k, v in pre.state.items() if k != "targets"}
    state.update(task=encoding["task"], target={k: v for k, v in encoding.items() if k != "task"})
    return Preprocessor(state)


def target_arrays(pre: Preprocessor, frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """Each target's encoded values for raw rows (class indices, or float values)."""
    return {t["name"]: target_preprocessor(pre, t["name"]).targets(frame) for t in pre.state["targets"]}


def target_dataset(dataset: Dataset, name: str) -> Dataset:
    """The single-target view of one target: the same inputs, that target's arrays, info and preprocessing."""
    from kproto.data.dataset import _baselines

    pick = lambda y: None if y is None else y[name]  # noqa: E731
    view = replace(
        dataset,
        y_train=pick(dataset.y_train),
        y_val=pick(dataset.y_val),
        y_test=pick(dataset.y_test),
        info=target_info(dataset.info, name),
        preprocessor=target_preprocessor(dataset.preprocessor, name),
        baselines={},
    )
    view.baselines = _baselines(view)
    return view


def check_target_columns(names: list[str], columns: list[str]) -> None:
    for name in names:
        if name not in columns:
            raise missing_column_error(name, columns, "data.target", "target column")


def _task(recipe: Recipe, frame: pd.DataFrame, name: str) -> str:
    return recipe.data.task or infer_task(frame[name], recipe.data.max_classes)


def targets_dataset(
    recipe: Recipe,
    preprocessor: Preprocessor | None = None,
    adopt: Callable[[str], dict[str, Any] | None] | None = None,
) -> Dataset:
    """Seeded, preprocessed splits whose targets are {name: array}: the features are read as for the first target
    (the other target columns are never features), the rows are stratified by the first classification target."""
    from kproto.data import dataset as single
    from kproto.data.streaming import wants_streaming

    names = target_names(recipe.data)
    path = check_path(recipe.data.path)
    if path.is_dir() or wants_streaming(recipe):
        raise DataError(
            "several targets are read from one table in memory, not from "
            + ("an image folder" if path.is_dir() else "a file streamed from disk"),
            field="data.target",
            hint="name one target, or use a csv/tsv/parquet file that fits in memory (data.streaming: false)",
        )
    frame = read_table(path, limit=recipe.data.limit, encoding=recipe.data.encoding)
    check_target_columns(names, list(frame.columns))
    if preprocessor is not None:
        tasks = {t["name"]: t["task"] for t in preprocessor.state["targets"]}
    else:
        tasks = {name: _task(recipe, frame, name) for name in names}
    dropped = 0
    for name in names:
        frame, gone = single._drop_empty_targets(for_target(recipe, name), frame, tasks[name])
        dropped += gone
    first = for_target(recipe, names[0])
    view = frame.drop(columns=names[1:])
    audit = single._audit(first, view, tasks[names[0]], dropped, preprocessor)
    features, kind = single._inputs(first, view, audit)
    recipe.data.text = first.data.text  # a lone free-text column makes a text model
    if not features:
        raise DataError(
            "no feature columns are left", field="data.features", hint="list the input columns in data.features"
        )
    if kind == catalog.IMAGE:
        single._check_image_shape(first, features)
    stratify = next((n for n in names if tasks[n] == catalog.CLASSIFICATION), None)
    labels = frame[stratify].astype(str).to_numpy() if stratify else None
    train_rows, val_rows, test_rows, fit_rows = single._split(first, frame, labels, tasks[names[0]])
    pre = preprocessor or _fit(recipe, frame, fit_rows, tasks, kind, features, adopt, audit)
    arrays = {}
    for split, rows in (("train", train_rows), ("validation", val_rows), ("test", test_rows)):
        part = frame.iloc[rows]
        arrays[split] = (pre.features(part, recipe.data.missing), target_arrays(pre, part))
    info = single._info(pre, arrays, catalog.MULTI_TARGET, kind, first)  # the inputs' facts, as for one target
    info.targets = [target_entry(t["name"], t["task"], t) for t in pre.state["targets"]]
    dataset = Dataset(*arrays["train"], *arrays["validation"], *arrays["test"], info=info, preprocessor=pre)
    dataset.audit, dataset.dropped_rows = audit, dropped
    return dataset


def _fit(
    recipe: Recipe,
    frame: pd.DataFrame,
    fit_rows: np.ndarray,
    tasks: dict[str, str],
    kind: str,
    features: list[str],
    adopt: Callable[[str], dict[str, Any] | None] | None,
    audit: Any,
) -> Preprocessor:
    """The features' preprocessing (fitted as for one target) and each target's encoding, from training rows."""
    from kproto.data.dataset import feature_roles, numeric_rule

    names = target_names(recipe.data)
    first = for_target(recipe, names[0])
    adopted = adopt(kind) if adopt is not None else None
    roles = feature_roles(first, frame, audit, features, kind)
    rule = numeric_rule(first, kind)
    pre = Preprocessor.fit(frame, fit_rows, first.data, tasks[names[0]], kind, features, adopted, roles, rule)
    pre.state.pop("target", None)
    pre.state.setdefault("categorical", recipe.data.categorical)
    train = frame.iloc[fit_rows]
    encodings = []
    for name in names:
        task = tasks[name]
        one = Preprocessor({"target": Preprocessor._fit_target(train[name], task, name)})
        positive_last(one, for_target(recipe, name))
        encodings.append({"task": task, **one.state["target"]})
    pre.state.update(task=catalog.MULTI_TARGET, targets=encodings)
    return pre
