"""Columns of several kinds read by one model (catalog.MIXED): text, image paths and table columns.

Each kind becomes one named model input (`INPUT_NAMES`): `text` (token ids of the text columns, joined), `image`
(the pixels of the file an image column names), `tabular` (numeric columns standardized and date features) and
`categorical` (one code per categorical column, offset so that all columns share one embedding table; 0 is an
unseen or missing value). The preprocessing state keeps one record per input under `inputs`, and the parts'
shapes under `parts`. Each input is read by the one-kind rules of kproto.data.preprocess, which calls this module
with itself as `codec` (so that neither module imports the other). The rows travel through training as one packed float32 array, the parts side by side in
`INPUT_NAMES` order; the model's first layer (kproto.models.input_layers.SplitInputs) cuts it into the named inputs.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kproto.core import catalog
from kproto.core.errors import DataError

INPUT_NAMES = ("text", "image", "tabular", "categorical")  # the named inputs, in packing order
DEFAULT_IMAGE_SHAPE = (64, 64, 3)  # the size image files are read at when data.shape does not say
IMAGE_PATH = re.compile(r"\.(?:png|jpe?g|bmp|gif|webp)$", re.IGNORECASE)
ISO_DATE = re.compile(r"^\d{4}-\d{1,2}-\d{1,2}([ T]\d{1,2}:\d{2}(:\d{2})?)?$")  # a date, when the audit is off


def column_role(codec: Any, column: pd.Series, override: str | None = None) -> str:
    """A column's role when the audit is off: data.columns, else free text, image paths, numbers or categories."""
    if override is not None:
        return override
    if codec._is_numeric(column):
        return "numeric"
    present = column.dropna().astype(str).str.strip()
    if len(present) and present.str.contains(IMAGE_PATH).all():
        return "image"
    if len(present) and present.str.match(ISO_DATE).all():
        return "datetime"
    if codec.is_text_column(column):
        return "text"
    return "numeric" if codec._check_numeric_column(str(column.name), column) is not None else "categorical"


def input_roles(codec: Any, data: Any, frame: pd.DataFrame, features: list[str], audit: Any = None) -> dict[str, str]:
    """The role of each feature column (text, image, numeric, categorical, datetime); data.text is text."""
    overrides = dict(data.columns or {})
    roles = {}
    for name in features:
        if name == data.text:
            roles[name] = "text"
        elif audit is not None and audit.column(name) is not None:
            roles[name] = audit.column(name).role
        else:
            roles[name] = column_role(codec, frame[name], overrides.get(name))
    return roles


def is_several(roles: dict[str, str]) -> bool:
    """Columns a one-kind model cannot read together: text or image columns beside others, or image paths alone."""
    kinds = set(roles.values())
    if "image" in kinds:
        return True
    return "text" in kinds and len(roles) > 1


def fit_inputs(
    codec: Any, train: pd.DataFrame, features: list[str], spec: Any, roles: dict[str, str], folder: str
) -> dict[str, Any]:
    """The state of each named input, fitted on the training rows; `folder`: where relative image paths start;
    `codec`: the module kproto.data.preprocess."""
    Preprocessor = codec.Preprocessor  # noqa: N806 - the class
    texts = [c for c in features if roles.get(c) == "text"]
    images = [c for c in features if roles.get(c) == "image"]
    table = [c for c in features if roles.get(c) in ("numeric", "datetime")]
    categories = [c for c in features if roles.get(c) not in ("text", "image", "numeric", "datetime")]
    if len(images) > 1:
        raise DataError(
            f"data.features lists {len(images)} columns of image paths ({', '.join(images)}); a model reads one",
            field="data.features",
            hint="keep one image column in data.features",
        )
    inputs: dict[str, Any] = {}
    parts: list[dict[str, Any]] = []
    if texts:
        joined = pd.DataFrame({texts[0]: join_texts(train, texts)})
        state = Preprocessor._fit_text(joined, spec.model_copy(update={"text": texts[0]}))
        inputs["text"] = {**state, "columns": texts}
        length = int(state["sequence_length"])
        parts.append({"name": "text", "shape": [length], "dtype": "int32", "vocab": len(state["vocabulary"])})
    if images:
        shape = list(spec.shape or DEFAULT_IMAGE_SHAPE)
        if len(shape) == 2:
            shape.append(1)
        inputs["image"] = {"column": images[0], "shape": shape, "folder": folder}
        parts.append({"name": "image", "shape": shape, "dtype": "float32"})
    if table:
        columns = Preprocessor._fit_columns(train, table, spec, {c: roles[c] for c in table})
        inputs["tabular"] = {"columns": columns}
        width = sum(8 if c["type"] == "datetime" else 1 for c in columns)
        parts.append({"name": "tabular", "shape": [width], "dtype": "float32"})
    if categories:
        columns, offset = [], 1
        for name in categories:
            column = codec._fit_categorical(name, train[name], capped=True)
            columns.append({**column, "offset": offset})
            offset += len(column["values"])
        inputs["categorical"] = {"columns": columns}
        parts.append({"name": "categorical", "shape": [len(columns)], "dtype": "int32", "vocab": offset})
    return {"inputs": inputs, "parts": parts}


def join_texts(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """The text columns of each row joined by a space (empty cells are empty text)."""
    joined = frame[columns[0]].fillna("").astype(str)
    for name in columns[1:]:
        joined = joined + " " + frame[name].fillna("").astype(str)
    return joined.to_numpy()


def input_arrays(
    codec: Any, state: dict[str, Any], frame: pd.DataFrame, missing: str = "impute"
) -> dict[str, np.ndarray]:
    """The named model inputs of raw rows, {name: array}, in `INPUT_NAMES` order."""
    Preprocessor = codec.Preprocessor  # noqa: N806 - the class
    inputs = state["inputs"]
    imputed = state.setdefault("imputed", {})
    arrays: dict[str, np.ndarray] = {}
    if "text" in inputs:
        text = inputs["text"]
        joined = pd.DataFrame({text["column"]: join_texts(frame, text["columns"])})
        arrays["text"] = Preprocessor({"kind": catalog.TEXT, "text": text})._text(joined)
    if "image" in inputs:
        arrays["image"] = read_images(inputs["image"], frame)
    if "tabular" in inputs:
        table = Preprocessor({"kind": catalog.TABLE, "columns": inputs["tabular"]["columns"], "imputed": imputed})
        arrays["tabular"] = table._tabular(frame, missing)
    if "categorical" in inputs:
        columns = inputs["categorical"]["columns"]
        table = Preprocessor({"kind": catalog.TABLE, "columns": columns, "imputed": imputed, "categorical": "index"})
        codes = table._tabular(frame, missing).astype(np.int64)  # 1 + the category's index; 0: unseen
        offsets = np.array([c["offset"] - 1 for c in columns], dtype=np.int64)
        arrays["categorical"] = np.where(codes > 0, codes + offsets, 0).astype(np.int32)
    return arrays


def pack(arrays: dict[str, np.ndarray]) -> np.ndarray:
    """The named inputs side by side in one float32 array [rows, total width] (what training and serving pass)."""
    blocks = [np.asarray(arrays[name]).reshape(len(arrays[name]), -1) for name in INPUT_NAMES if name in arrays]
    return np.concatenate(blocks, axis=1).astype(np.float32)


def unpack(parts: list[dict[str, Any]], packed: np.ndarray) -> dict[str, np.ndarray]:
    """The named inputs of a packed array (the inverse of `pack`), each in its shape and dtype."""
    arrays, start = {}, 0
    for part in parts:
        width = int(np.prod(part["shape"]))
        block = np.asarray(packed)[:, start : start + width].reshape((-1, *part["shape"]))
        arrays[part["name"]] = block.astype(part["dtype"])
        start += width
    return arrays


def mixed_features(codec: Any, state: dict[str, Any], frame: pd.DataFrame, missing: str = "impute") -> np.ndarray:
    """Model inputs of raw rows for a model of several inputs: the named inputs packed into one array."""
    return pack(input_arrays(codec, state, frame, missing))


def read_images(image: dict[str, Any], frame: pd.DataFrame) -> np.ndarray:
    """The image files an image column names, resized to the input's shape, scaled to [0, 1]. A relative path
    starts at the folder of the file the rows came from (else the training data's folder)."""
    from PIL import Image

    height, width, channels = image["shape"]
    folder = Path(frame.attrs.get("folder") or image["folder"])
    mode = "L" if channels == 1 else "RGB"
    pixels = np.zeros((len(frame), height, width, channels), dtype=np.float32)
    for i, (row, cell) in enumerate(frame[image["column"]].items()):
        if pd.isna(cell) or not str(cell).strip():
            continue  # a missing image: all zeros
        path = Path(str(cell).strip())
        path = path if path.is_absolute() else folder / path
        try:
            with Image.open(path) as img:
                picture = img.convert(mode).resize((width, height))
        except (OSError, ValueError) as exc:
            raise DataError(
                f"column '{image['column']}' row {row} names the image {str(cell)[:120]!r}, which cannot be read "
                f"({type(exc).__name__})",
                field="data.path",
                hint=f"image paths are read relative to {folder}",
            ) from None
        pixels[i] = np.asarray(picture, dtype=np.float32).reshape(height, width, channels) / 255.0
    return pixels
