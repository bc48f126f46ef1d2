"""Assemble model-ready arrays from a recipe's data section: read, split, fit preprocessing, transform."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kproto.core import catalog
from kproto.core.errors import DataError
from kproto.data.preprocess import Preprocessor, infer_task, is_text_column, positive_last
from kproto.data.readers import check_path, check_target, read_image_folder, read_table
from kproto.data.selection import balance_rows, keep_classes, rows_per_class
from kproto.data.splits import split_indices
from kproto.data.types import DataInfo, Dataset
from kproto.recipe.schema import Recipe


def _choose_kind(recipe: Recipe, frame: pd.DataFrame | None, features: list[str]) -> str:
    data = recipe.data
    if frame is None:
        return "image_folder"
    if data.window is not None:
        return "window"
    if data.text:
        return "text"
    if data.shape:
        return "image"
    text_columns = [c for c in features if is_text_column(frame[c])]
    if text_columns and len(features) == 1:
        data.text = text_columns[0]
        return "text"
    return catalog.TABLE


def _features(recipe: Recipe, frame: pd.DataFrame) -> list[str]:
    data = recipe.data
    if data.features is not None:
        missing = [c for c in data.features if c not in frame.columns]
        if missing:
            raise DataError(
                f"feature column(s) not in the data: {', '.join(map(repr, missing))}",
                field="data.features",
                hint=f"the file has: {', '.join(list(frame.columns)[:15])}",
            )
        return list(data.features)
    if data.window is not None:
        return [data.target]
    if data.text:
        return [data.text]
    return [c for c in frame.columns if c != data.target]


def load_frame(recipe: Recipe) -> pd.DataFrame | None:
    """The raw table (None for an image folder)."""
    path = check_path(recipe.data.path)
    if path.is_dir():
        return None
    frame = read_table(path, limit=recipe.data.limit)
    check_target(recipe, list(frame.columns))
    return frame


def _task(recipe: Recipe, frame: pd.DataFrame | None) -> str:
    fixed = catalog.family(recipe.model.type).task  # reconstruction, generation
    if fixed is not None:
        return fixed
    if recipe.data.task:
        return recipe.data.task
    if recipe.data.window is not None and frame is not None:
        return "regression"  # a forecast of the series' values
    if frame is None:
        return "classification"
    return infer_task(frame[recipe.data.target], recipe.data.max_classes)


def load_dataset(
    recipe: Recipe,
    preprocessor: Preprocessor | None = None,
    adopt: Callable[[str], dict[str, Any] | None] | None = None,
) -> Dataset:
    """Read the recipe's data and return seeded, preprocessed splits (statistics from training rows only).

    With a saved `preprocessor`, nothing is refitted: the same seed gives the same rows in each split. `adopt`,
    called with the data kind, may return feature preprocessing to take as it is (a pretrained backbone's own).
    """
    from kproto.data.streaming import load_streaming, wants_streaming

    if wants_streaming(recipe):
        if recipe.data.balance != "none":
            raise DataError(
                f"data.balance: {recipe.data.balance} works on in-memory rows, but {recipe.data.path} is streamed "
                "from disk (it is larger than 1 GiB)",
                field="data.balance",
                hint="use train.class_weight: balanced instead, or data.streaming: false if it fits in memory",
            )
        return load_streaming(recipe, preprocessor)
    frame = load_frame(recipe)
    if frame is None:
        return _image_folder_dataset(recipe)
    inputs = catalog.family(recipe.model.type).inputs
    if "pairs" in inputs:  # seq2seq: text → text
        from kproto.data.pairs import pairs_dataset

        return pairs_dataset(recipe, frame, preprocessor)
    if "interactions" in inputs:  # recommender: users × items
        from kproto.data.interactions import interactions_dataset

        return interactions_dataset(recipe, frame, preprocessor)
    target = recipe.data.target
    task = _task(recipe, frame)
    if target and task in ("classification", "regression"):
        dropped = int(frame[target].isna().sum())
        if dropped == len(frame):
            raise DataError(f"the target column '{target}' is empty", field="data.target")
        frame = frame[frame[target].notna()]
    if recipe.data.classes is not None:
        frame = keep_classes(frame, target, recipe.data.classes)
    features = _features(recipe, frame)
    kind = _choose_kind(recipe, frame, features)
    if kind == "text":
        features = [recipe.data.text]
    if not features:
        raise DataError(
            "no feature columns are left", field="data.features", hint="list the input columns in data.features"
        )
    split = recipe.data.split
    if kind == "window":
        return _window_dataset(recipe, frame, features, task, preprocessor)
    labels = None
    if task == "classification":
        labels = frame[target].astype(str).to_numpy()
    elif task == "generation" and target and recipe.model.conditional:
        labels = frame[target].astype(str).to_numpy()
    train_rows, val_rows, test_rows = split_indices(len(frame), split.validation, split.test, recipe.seed, labels)
    if recipe.data.rows_per_class is not None:
        train_rows = rows_per_class(train_rows, labels, recipe.data.rows_per_class, recipe.seed)
    fit_rows = train_rows  # preprocessing statistics come from the training rows as they are, before balancing
    if recipe.data.balance != "none":
        train_rows = balance_rows(
            train_rows, labels if task == "classification" else None, recipe.data.balance, recipe.seed
        )
    if kind == "image":
        expected = int(np.prod(recipe.data.shape))
        if len(features) != expected:
            raise DataError(
                f"data.shape {recipe.data.shape} needs {expected} pixel columns, but there are {len(features)}",
                field="data.shape",
                hint="make the product of data.shape equal the number of feature columns",
            )
    adopted = adopt(kind) if adopt is not None and preprocessor is None else None
    pre = preprocessor or positive_last(
        Preprocessor.fit(frame, fit_rows, recipe.data, task, kind, features, adopted), recipe
    )
    pre.state.setdefault("categorical", recipe.data.categorical)
    if adopted is not None:
        pre.check_columns(frame, need_target=False)
    arrays = {}
    for name, rows in (("train", train_rows), ("validation", val_rows), ("test", test_rows)):
        part = frame.iloc[rows]
        x = pre.features(part, recipe.data.missing)
        y = pre.targets(part) if "target" in pre.state else None
        arrays[name] = (x, y)
    info = _info(pre, arrays, task, kind, recipe)
    dataset = Dataset(*arrays["train"], *arrays["validation"], *arrays["test"], info=info, preprocessor=pre)
    dataset.baselines = _baselines(dataset)
    if task == "reconstruction" and len(dataset.x_test):
        components = getattr(recipe.model, "bottleneck", 16)
        dataset.baselines["pca_mse"] = pca_reconstruction_mse(dataset.x_train, dataset.x_test, components)
    return dataset


def pca_reconstruction_mse(x_train: np.ndarray, x_test: np.ndarray, components: int) -> float:
    """Test MSE of PCA with `components` components fitted on the training rows (the autoencoder's baseline)."""
    train = x_train.reshape(len(x_train), -1).astype(np.float64)
    test = x_test.reshape(len(x_test), -1).astype(np.float64)
    mean = train.mean(axis=0)
    _, _, vt = np.linalg.svd(train - mean, full_matrices=False)
    basis = vt[:components]
    rebuilt = (test - mean) @ basis.T @ basis + mean
    return float(np.mean((rebuilt - test) ** 2))


def _info(pre: Preprocessor, arrays: dict[str, tuple], task: str, kind: str, recipe: Recipe) -> DataInfo:
    x_train, y_train = arrays["train"]
    target = pre.state.get("target", {})
    info = DataInfo(task=task, kind=kind, input_shape=tuple(int(d) for d in x_train.shape[1:]))
    info.rows = {name: int(len(x)) for name, (x, _) in arrays.items()}
    if "classes" in target:
        info.class_names = list(target["classes"])
        info.num_classes = len(target["classes"])
    if task == catalog.REGRESSION:
        info.target_mean, info.target_std = target["mean"], target["std"]
    if task == catalog.RECONSTRUCTION:
        info.output_dim = int(np.prod(x_train.shape[1:]))
    if kind == catalog.TEXT:
        info.vocab_size = len(pre.state["text"].get("vocabulary", []))  # none kept for a KerasHub tokenizer
    return info


def _baselines(dataset: Dataset) -> dict[str, float]:
    """Reference scores a model should beat: the majority class or the mean prediction."""
    info, y_train, y_test = dataset.info, dataset.y_train, dataset.y_test
    if y_train is None or y_test is None or len(y_test) == 0:
        return {}
    if info.task == catalog.CLASSIFICATION:
        majority = np.bincount(y_train, minlength=info.num_classes).argmax()
        return {"majority_class_accuracy": float(np.mean(y_test == majority))}
    if info.task == catalog.REGRESSION:
        return {"mean_prediction_mae": float(np.mean(np.abs(y_test - y_train.mean())))}
    return {}


def _window_dataset(
    recipe: Recipe, frame: pd.DataFrame, features: list[str], task: str, preprocessor: Preprocessor | None = None
) -> Dataset:
    from kproto.data.forecasting import window_dataset

    covariates = list(recipe.data.features or [])
    return window_dataset(recipe, frame, covariates, task, preprocessor)


def _image_folder_dataset(recipe: Recipe) -> Dataset:
    images, labels, classes = read_image_folder(Path(recipe.data.path), recipe.data.shape)
    split = recipe.data.split
    train_rows, val_rows, test_rows = split_indices(len(images), split.validation, split.test, recipe.seed, labels)
    task = _task(recipe, None)
    state = {
        "kind": "image_folder",
        "task": task,
        "features": [],
        "image": {"shape": list(images.shape[1:]), "min": 0.0, "max": 255.0},
        "target": {"name": "class", "classes": classes},
    }
    pre = Preprocessor(state)
    scaled = images / 255.0
    arrays = {
        name: (scaled[rows], labels[rows].astype(np.int32))
        for name, rows in (("train", train_rows), ("validation", val_rows), ("test", test_rows))
    }
    info = _info(pre, arrays, task, "image_folder", recipe)
    dataset = Dataset(*arrays["train"], *arrays["validation"], *arrays["test"], info=info, preprocessor=pre)
    dataset.baselines = _baselines(dataset)
    return dataset


def transform_rows(
    pre: Preprocessor, frame: pd.DataFrame, need_target: bool, missing: str = "impute"
) -> tuple[np.ndarray, np.ndarray | None]:
    """Model inputs (and targets, when present and wanted) for raw rows of a new file."""
    if pre.kind == catalog.PAIRS:
        from kproto.data.pairs import pair_rows

        return pair_rows(pre, frame, need_target)
    if pre.kind == catalog.INTERACTIONS:
        from kproto.data.interactions import interaction_rows

        return interaction_rows(pre, frame, need_target)
    if pre.kind == catalog.WINDOW:
        from kproto.data.windows import make_windows

        window = pre.state["window"]
        x, y, _ = make_windows(pre, frame, window["length"], window["horizon"], window["stride"], missing)
        return x, (y if need_target else None)
    pre.check_columns(frame, need_target)
    x = pre.features(frame, missing)
    y = pre.targets(frame) if need_target and "target" in pre.state else None
    return x, y
