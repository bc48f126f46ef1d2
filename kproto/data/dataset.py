"""Assemble model-ready arrays from a recipe's data section: read, split, fit preprocessing, transform."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from kproto.core import catalog
from kproto.core.errors import DataError
from kproto.data.preprocess import (
    NumericRule,
    Preprocessor,
    feature_groups,
    infer_task,
    is_text_column,
    positive_last,
)
from kproto.data.readers import check_path, check_target, missing_column_error, read_image_folder, read_table
from kproto.data.selection import balance_rows, keep_classes, rows_per_class
from kproto.data.splits import check_held_out, split_indices
from kproto.data.types import DataInfo, Dataset

if TYPE_CHECKING:
    from kproto.data.audit import Audit
from kproto.recipe.schema import Recipe

QUANTILE_LEVELS = 64  # a table's numeric inputs: training quantiles at levels 0, 1/64, …, 1 (DataInfo.table)


def _features(recipe: Recipe, frame: pd.DataFrame) -> list[str]:
    data = recipe.data
    if data.features is not None:
        missing = [c for c in data.features if c not in frame.columns]
        if missing:
            raise missing_column_error(missing[0], list(frame.columns), "data.features", "feature column")
        return list(data.features)
    if data.window is not None:
        return [data.target]
    if data.text:
        return [data.text]
    overrides = data.columns or {}
    return [c for c in frame.columns if c != data.target and overrides.get(c) not in ("drop", "identifier")]


def load_frame(recipe: Recipe) -> pd.DataFrame | None:
    """The raw table (None for an image folder); text that is not UTF-8 (or not data.encoding) is refused."""
    path = check_path(recipe.data.path)
    if path.is_dir():
        return None
    frame = read_table(path, limit=recipe.data.limit, encoding=recipe.data.encoding)
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


def _drop_empty_targets(recipe: Recipe, frame: pd.DataFrame, task: str) -> tuple[pd.DataFrame, int]:
    """The rows that have a target, and how many were dropped for an empty one."""
    target = recipe.data.target
    if not target or task not in catalog.SUPERVISED_TASKS:
        return frame, 0
    column = frame[target]
    empty = column.isna()
    if column.dtype == object or pd.api.types.is_string_dtype(column.dtype):  # blank cells count as empty too
        empty = empty | column.astype("string").str.strip().eq("").fillna(False).astype(bool)
    dropped = int(empty.sum())
    if dropped == len(frame):
        raise DataError(f"the target column '{target}' is empty in all {len(frame)} rows", field="data.target")
    return (frame[~empty] if dropped else frame), dropped


def _audit(
    recipe: Recipe, frame: pd.DataFrame, task: str, dropped: int, preprocessor: Preprocessor | None
) -> Audit | None:
    """The audit of a table's columns (None when data.audit is off, for images, or with saved preprocessing)."""
    data = recipe.data
    inputs = set(catalog.family(recipe.model.type).inputs)
    if not data.audit or preprocessor is not None or data.shape or not {catalog.TABLE, catalog.TEXT} & inputs:
        return None
    from kproto.data.audit import AuditSettings, audit_frame

    several = catalog.family(recipe.model.type).extra_inputs
    settings = AuditSettings.from_recipe(data, missing_target=dropped, several_inputs=several)  # task: inferred alike
    if task not in catalog.SUPERVISED_TASKS:
        settings.target = None  # autoencoders and GANs predict nothing: the target column is left out
        frame = frame.drop(columns=[data.target]) if data.target in frame else frame
    return audit_frame(frame, settings)


def _inputs(recipe: Recipe, frame: pd.DataFrame, audit: Audit | None) -> tuple[list[str], str]:
    """The feature columns and the kind of input (tabular, text or image) the model reads."""
    data = recipe.data
    several = _several_inputs(recipe, frame, audit)
    if several is not None:
        return several, catalog.MIXED
    _refuse_features_beside_text(data, recipe.model.type)
    features = _features(recipe, frame)
    if audit is not None and not data.text:
        features = _audited_features(data, features, audit)
    if data.text:
        return [data.text], catalog.TEXT
    if data.shape:
        return features, catalog.IMAGE
    if audit is None and len(features) == 1 and is_text_column(frame[features[0]]):
        data.text = features[0]
        return features, catalog.TEXT
    return features, catalog.TABLE


def _several_inputs(recipe: Recipe, frame: pd.DataFrame, audit: Audit | None) -> list[str] | None:
    """The feature columns when a model that takes several inputs gets columns of several kinds (text or image paths
    beside others, kproto.data.inputs), or text that its family reads only this way (feedforward, cnn); None
    otherwise (data.text without data.features, for a family that reads text: the text alone)."""
    from kproto.data import inputs, preprocess

    data = recipe.data
    family = catalog.family(recipe.model.type)
    if not family.extra_inputs or (data.text and data.features is None and catalog.TEXT in family.inputs):
        return None
    features = list(data.features) if data.features is not None else _features(recipe, frame)
    missing = [c for c in features if c not in frame.columns]
    if missing:
        raise missing_column_error(missing[0], list(frame.columns), "data.features", "feature column")
    if data.text and data.text not in features:
        features.insert(0, data.text)
    if audit is not None:
        kept = set(audit.features()) | ({data.text} if data.text else set())
        features = [c for c in features if c in kept]
    roles = inputs.input_roles(preprocess, data, frame, features, audit)
    lone_text = set(roles.values()) == {"text"} and catalog.TEXT not in family.inputs  # feedforward: an embedding bag
    return features if inputs.is_several(roles) or lone_text else None


def _refuse_features_beside_text(data: Any, family: str) -> None:
    if data.text and data.features is not None and set(data.features) - {data.text}:
        extra = sorted(set(data.features) - {data.text})
        takers = ", ".join(n for n, entry in catalog.FAMILIES.items() if entry.extra_inputs)
        raise DataError(
            f"data.features lists {', '.join(map(repr, extra))} beside data.text; a {family} model reads only its "
            f"text column ('{data.text}'), so they would be left out",
            field="data.features",
            hint=f"remove data.features, or leave data.text out to train a table model on those columns; families "
            f"that take several inputs read them all: {takers}",
        )


def _audited_features(data: Any, features: list[str], audit: Audit) -> list[str]:
    """The features the audit keeps; a lone free-text column makes a text model (data.text is set to it)."""
    listed = data.features or []
    unusable = [c.name for c in audit.columns if c.action == "unused" and c.name in listed]
    if unusable:
        raise DataError(
            f"data.features lists the free-text column '{unusable[0]}', which a model of table columns cannot read",
            field="data.features",
            hint=f"train a text model on it alone (data.text: {unusable[0]}), or write data.columns: "
            f"{{{unusable[0]}: categorical}} to read its values as categories",
        )
    kept = set(audit.features())
    features = [c for c in features if c in kept]
    if len(features) == 1 and audit.roles().get(features[0]) == "text":  # the role, not the input kind
        data.text = features[0]
    return features


def feature_roles(
    recipe: Recipe, frame: pd.DataFrame, audit: Audit | None, features: list[str], kind: str
) -> dict[str, str] | None:
    """How the preprocessing reads each feature: table columns by `_roles`, several inputs by their kinds."""
    if kind == catalog.MIXED:
        from kproto.data import inputs, preprocess

        return inputs.input_roles(preprocess, recipe.data, frame, features, audit)
    return _roles(recipe, audit, features) if kind == catalog.TABLE else None


def describe_inputs(info: DataInfo, pre: Preprocessor) -> None:
    """A model of several inputs: each named part's shape and the text's vocabulary size, into `info`."""
    info.inputs = [dict(part) for part in pre.state["parts"]]
    info.vocab_size = len(pre.state["inputs"].get("text", {}).get("vocabulary", []))


def _roles(recipe: Recipe, audit: Audit | None, features: list[str]) -> dict[str, str] | None:
    """How the preprocessing reads each feature: the audit's roles, or only data.columns when the audit is off."""
    readable = ("numeric", "categorical", "datetime")
    if audit is None:
        overrides = {k: v for k, v in (recipe.data.columns or {}).items() if v in readable and k in features}
        return overrides or None
    return {name: audit.column(name).role for name in features if audit.column(name).role in readable}


def _split(
    recipe: Recipe, frame: pd.DataFrame, labels: np.ndarray | None, task: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(train, validation, test, fit) row positions: seeded, stratified by class, refused when a held-out split that
    the recipe asks for comes out empty; `fit`: the training rows before balancing (preprocessing statistics)."""
    split = recipe.data.split
    train_rows, val_rows, test_rows = split_indices(len(frame), split.validation, split.test, recipe.seed, labels)
    check_held_out(len(frame), split.validation, split.test, len(val_rows), len(test_rows), labels)
    if recipe.data.rows_per_class is not None:
        train_rows = rows_per_class(train_rows, labels, recipe.data.rows_per_class, recipe.seed)
    fit_rows = train_rows
    if recipe.data.balance != "none":
        train_rows = balance_rows(
            train_rows, labels if task == catalog.CLASSIFICATION else None, recipe.data.balance, recipe.seed
        )
    return train_rows, val_rows, test_rows, fit_rows


def _labels(recipe: Recipe, frame: pd.DataFrame, task: str) -> np.ndarray | None:
    """The class of each row, for stratified splits (None for other tasks)."""
    target = recipe.data.target
    if task == catalog.CLASSIFICATION or (task == catalog.GENERATION and target and recipe.model.conditional):
        return frame[target].astype(str).to_numpy()
    return None


def load_dataset(
    recipe: Recipe,
    preprocessor: Preprocessor | None = None,
    adopt: Callable[[str], dict[str, Any] | None] | None = None,
) -> Dataset:
    """Read the recipe's data and return seeded, preprocessed splits (statistics from training rows only).

    With a saved `preprocessor`, nothing is refitted: the same seed gives the same rows in each split. `adopt`,
    called with the data kind, may return feature preprocessing to take as it is (a pretrained backbone's own).
    The audit (kproto.data.audit) decides which columns are read and how, unless data.audit is off.
    """
    from kproto.data.streaming import load_streaming, wants_streaming

    if wants_streaming(recipe):
        _check_streamable(recipe)
        return load_streaming(recipe, preprocessor)
    frame = load_frame(recipe)
    if frame is None:
        return _image_folder_dataset(recipe)
    packed = _packed_dataset(recipe, frame, preprocessor)
    if packed is not None:
        return packed
    task = _task(recipe, frame)
    frame, dropped = _drop_empty_targets(recipe, frame, task)
    if recipe.data.classes is not None:
        frame = keep_classes(frame, recipe.data.target, recipe.data.classes)
    if recipe.data.window is not None:
        return _window_dataset(recipe, frame, _features(recipe, frame), task, preprocessor)
    audit = _audit(recipe, frame, task, dropped, preprocessor)
    features, kind = _inputs(recipe, frame, audit)
    if not features:
        raise DataError(
            "no feature columns are left"
            + (f" (the audit dropped {', '.join(audit.dropped())})" if audit is not None and audit.dropped() else ""),
            field="data.features",
            hint="list the input columns in data.features, or give columns a role with data.columns",
        )
    if kind == catalog.IMAGE:
        _check_image_shape(recipe, features)
    train_rows, val_rows, test_rows, fit_rows = _split(recipe, frame, _labels(recipe, frame, task), task)
    adopted = adopt(kind) if adopt is not None and preprocessor is None else None
    roles = feature_roles(recipe, frame, audit, features, kind)
    pre = preprocessor or positive_last(
        Preprocessor.fit(
            frame,
            fit_rows,
            recipe.data,
            task,
            kind,
            features,
            adopted,
            roles,
            numeric_rule(recipe, kind),
        ),
        recipe,
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
    dataset.audit, dataset.dropped_rows = audit, dropped
    if task == "reconstruction" and len(dataset.x_test):
        components = getattr(recipe.model, "bottleneck", 16)
        dataset.baselines["pca_mse"] = pca_reconstruction_mse(dataset.x_train, dataset.x_test, components)
    return dataset


def _check_streamable(recipe: Recipe) -> None:
    if recipe.data.balance != "none":
        raise DataError(
            f"data.balance: {recipe.data.balance} works on in-memory rows, but {recipe.data.path} is streamed "
            "from disk (it is larger than 1 GiB)",
            field="data.balance",
            hint="use train.class_weight: balanced instead, or data.streaming: false if it fits in memory",
        )


def _packed_dataset(recipe: Recipe, frame: pd.DataFrame, preprocessor: Preprocessor | None) -> Dataset | None:
    """seq2seq (text → text) and recommender (users × items) data, packed by their own modules; None otherwise."""
    inputs = catalog.family(recipe.model.type).inputs
    if "pairs" in inputs:
        from kproto.data.pairs import pairs_dataset

        return pairs_dataset(recipe, frame, preprocessor)
    if "interactions" in inputs:
        from kproto.data.interactions import interactions_dataset

        return interactions_dataset(recipe, frame, preprocessor)
    return None


def _check_image_shape(recipe: Recipe, features: list[str]) -> None:
    expected = int(np.prod(recipe.data.shape))
    if len(features) != expected:
        raise DataError(
            f"data.shape {recipe.data.shape} needs {expected} pixel columns, but there are {len(features)}",
            field="data.shape",
            hint="make the product of data.shape equal the number of feature columns",
        )


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
    if kind == catalog.MIXED:
        describe_inputs(info, pre)
    if kind == catalog.TABLE and "columns" in pre.state:
        info.table = table_layout(pre.state, x_train)
    return info


def numeric_rule(recipe: Recipe, kind: str) -> NumericRule:
    """How a table's numeric columns are read: `data.scaling`, `data.log_skewed` and `data.missing_indicators`, with
    `auto` the family's catalog choice (other kinds of data: standard scaling only)."""
    if kind != catalog.TABLE:
        return NumericRule()
    family = catalog.family(recipe.model.type)
    data = recipe.data
    scaling = family.scaling if data.scaling == "auto" else data.scaling
    log_skewed = family.log_skewed if data.log_skewed == "auto" else data.log_skewed
    return NumericRule(scaling, log_skewed, data.missing_indicators)


def table_layout(state: dict, x_train: np.ndarray) -> dict:
    """Where a table's model inputs come from, for models that embed them: the numeric inputs' positions with the
    training quantiles of each (at QUANTILE_LEVELS + 1 evenly spaced levels), and the index-coded categorical inputs'
    positions with their number of categories. A missing-value indicator is not a numeric input here: it is 0 or 1."""
    numeric, categorical = [], []
    onehot = state.get("categorical", "onehot") == "onehot"
    for column, group in zip(state["columns"], feature_groups(state), strict=True):
        if column["type"] == "numeric":
            numeric.append(group.start)
        elif column["type"] == "categorical" and not onehot:
            categorical.append([group.start, len(column["values"])])
    levels = np.linspace(0.0, 1.0, QUANTILE_LEVELS + 1)
    grid = np.quantile(x_train[:, numeric], levels, axis=0).T if numeric and len(x_train) else np.zeros((0, 0))
    return {
        "numeric": numeric,
        "quantiles": [[round(float(v), 6) for v in row] for row in grid],
        "categorical": categorical,
    }


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
    pre.check_columns(frame, need_target, field="--data")
    x = pre.features(frame, missing)
    y = pre.targets(frame) if need_target and "target" in pre.state else None
    return x, y
