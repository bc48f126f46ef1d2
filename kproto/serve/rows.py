"""Request bodies checked against the columns a run was trained on, before any model call.

Every problem becomes a `RequestProblem` that names the row and column, what was received and what is expected;
the app answers it with its status code (400, 413, 415 or 422), never 500.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from kproto.core import catalog


@dataclass
class RequestProblem(Exception):
    """A bad request: the status code and the JSON the client gets under "error"."""

    status: int
    message: str
    row: int | None = None
    column: str | None = None
    expected: Any = None
    received: Any = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.message

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"message": self.message, "status": self.status}
        for key in ("row", "column", "expected", "received"):
            value = getattr(self, key)
            if value is not None:
                data[key] = value
        return {**data, **self.extra}


@dataclass
class Column:
    """One input column: its name, `numeric`, `categorical`, `text` or `id` (a recommender's user or item), and
    the categories seen in training."""

    name: str
    type: str
    categories: list[str] | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "type": self.type}
        if self.categories is not None:
            data["categories"] = self.categories
        return data


def input_columns(state: dict[str, Any]) -> list[Column]:
    """The columns a request row carries, read from a run's preprocessing state."""
    kind = state["kind"]
    if kind == catalog.TEXT:
        return [Column(state["text"]["column"], "text")]
    if kind == catalog.PAIRS:  # seq2seq: the input text
        return [Column(state["pairs"]["source_column"], "text")]
    if kind == catalog.IMAGE:
        return [Column(name, "numeric") for name in state["features"]]
    if kind == catalog.INTERACTIONS:  # recommenders: a user and an item id (unseen ones: the cold-start slot), sides
        pairs = state["interactions"]
        sides = [
            Column(c["name"], "numeric" if c["type"] == "numeric" else "text")
            for part in ("user_features", "item_features")
            for c in pairs[part]["columns"]
        ]
        return [Column(pairs["user_column"], "id"), Column(pairs["item_column"], "id"), *sides]
    columns = [
        Column(c["name"], c["type"], list(c["values"]) if c["type"] == "categorical" else None)
        for c in state.get("columns", [])
    ]
    if kind == catalog.WINDOW:  # a series' rows also carry their time and, in a long file, their series
        series = (state.get("series") or {}).get("column")
        time = (state.get("time") or {}).get("column")
        columns = [*([Column(series, "id")] if series else []), *([Column(time, "text")] if time else []), *columns]
    return columns


def _received(value: Any) -> Any:
    """A short, JSON-safe echo of a received value."""
    text = value if isinstance(value, (int, float, bool)) or value is None else str(value)
    return text[:80] if isinstance(text, str) else text


@dataclass
class RowChecker:
    """Checks request rows for one run: columns, value types and (with `missing: error`) unseen categories."""

    columns: list[Column]
    kind: str
    missing: str = "impute"
    image_shape: tuple[int, ...] | None = None
    max_rows: int = 10_000

    @classmethod
    def from_state(cls, state: dict[str, Any], missing: str = "impute", max_rows: int = 10_000) -> RowChecker:
        shape = tuple(state["image"]["shape"]) if state["kind"] == catalog.IMAGE else None
        return cls(input_columns(state), state["kind"], missing, shape, max_rows)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    # --------------------------------------------------------------------------------------------- JSON bodies
    def rows_from_json(self, body: Any) -> list[Any]:
        """The list of rows in `{"rows": [...]}` or `{"instances": [...]}`."""
        if not isinstance(body, dict):
            raise RequestProblem(
                422,
                'the body must be a JSON object such as {"rows": [{"column": value, ...}]}',
                expected='{"rows": [...]} or {"instances": [...]}',
                received=type(body).__name__,
            )
        keys = [k for k in ("rows", "instances") if k in body]
        if len(keys) != 1:
            raise RequestProblem(
                422,
                'the body needs exactly one of "rows" or "instances" (a list of rows)',
                expected='{"rows": [...]} or {"instances": [...]}',
                received=sorted(map(str, body))[:10],
            )
        rows = body[keys[0]]
        if not isinstance(rows, list):
            raise RequestProblem(
                422, f'"{keys[0]}" must be a list of rows', expected="a list", received=type(rows).__name__
            )
        self.check_count(len(rows))
        return rows

    def check_count(self, count: int) -> None:
        if count == 0:
            raise RequestProblem(400, "the request holds no rows", expected="at least one row")
        if count > self.max_rows:
            raise RequestProblem(
                413,
                f"the request holds {count} rows; the limit is {self.max_rows} per request",
                expected=f"at most {self.max_rows} rows",
                received=count,
            )

    def frame(self, rows: list[Any]) -> pd.DataFrame:
        """A DataFrame of the training columns, every cell checked; nulls stay null (imputed as in training)."""
        names = self.names
        cells: list[list[Any]] = [[] for _ in self.columns]
        for index, row in enumerate(rows):
            if self.kind == catalog.IMAGE and isinstance(row, dict) and set(row) == {"image"}:
                row = self._image_row(index, row["image"])
            elif isinstance(row, list) and self.kind != catalog.TEXT:  # a KServe-style positional instance
                if len(row) != len(names):
                    raise RequestProblem(
                        422,
                        f"row {index} has {len(row)} values; a positional row needs one per column",
                        row=index,
                        expected=f"{len(names)} values in the order of /metadata's columns",
                        received=len(row),
                    )
                row = dict(zip(names, row))
            elif isinstance(row, str) and self.kind == catalog.TEXT:
                row = {names[0]: row}
            if not isinstance(row, dict):
                raise RequestProblem(
                    422,
                    f"row {index} is not an object of column values",
                    row=index,
                    expected='{"column": value, ...}',
                    received=type(row).__name__,
                )
            unknown = [k for k in row if k not in names]
            if unknown:
                raise RequestProblem(
                    422,
                    f"row {index} has the column {unknown[0]!r}, which the model was not trained on",
                    row=index,
                    column=str(unknown[0]),
                    expected=names[:50],
                )
            absent = [n for n in names if n not in row]
            if absent:
                raise RequestProblem(
                    422,
                    f"row {index} lacks the column {absent[0]!r} (send null to have it imputed as in training)",
                    row=index,
                    column=absent[0],
                    expected=names[:50],
                )
            for values, column in zip(cells, self.columns):
                values.append(self._cell(index, column, row[column.name]))
        data = {}
        for values, column in zip(cells, self.columns):
            if column.type == "numeric":
                data[column.name] = np.array([math.nan if v is None else v for v in values], dtype=np.float64)
            else:
                data[column.name] = np.array(values, dtype=object)
        return pd.DataFrame(data, columns=names)

    def _cell(self, index: int, column: Column, value: Any) -> Any:
        if value is None:
            return None
        if column.type == "numeric":
            if isinstance(value, bool) or not isinstance(value, (int, float, str)):
                raise self._wrong_type(index, column, value, "a number or null")
            if isinstance(value, str):
                try:
                    value = float(value)
                except ValueError:
                    raise self._wrong_type(index, column, value, "a number or null") from None
            if not math.isfinite(float(value)):
                raise self._wrong_type(index, column, value, "a finite number or null")
            return float(value)
        if isinstance(value, (dict, list)):
            raise self._wrong_type(index, column, value, "a string or null")
        text = str(value)
        if column.type == "categorical" and self.missing == "error" and text not in (column.categories or []):
            raise RequestProblem(
                422,
                f"row {index}, column {column.name!r}: the category {text!r} was never seen in training",
                row=index,
                column=column.name,
                expected=(column.categories or [])[:50],
                received=_received(value),
            )
        return text

    def _wrong_type(self, index: int, column: Column, value: Any, expected: str) -> RequestProblem:
        return RequestProblem(
            422,
            f"row {index}, column {column.name!r}: expected {expected}, received {type(value).__name__} {_received(value)!r}",
            row=index,
            column=column.name,
            expected=expected,
            received=_received(value),
        )

    def _image_row(self, index: int, image: Any) -> dict[str, Any]:
        """A nested array or a base64 PNG, as one value per pixel column."""
        shape = self.image_shape or ()
        if isinstance(image, str):
            pixels = _decode_png(index, image)
        else:
            try:
                pixels = np.asarray(image, dtype=np.float64)
            except (TypeError, ValueError):
                raise RequestProblem(
                    422, f"row {index}: the image is not a numeric array", row=index, column="image"
                ) from None
        size = int(np.prod(shape)) if shape else len(self.columns)
        if pixels.size != size:
            raise RequestProblem(
                422,
                f"row {index}: the image has {pixels.size} values; the model takes {list(shape)} = {size}",
                row=index,
                column="image",
                expected=list(shape),
                received=list(pixels.shape),
            )
        return dict(zip(self.names, pixels.reshape(-1).tolist()))

    # --------------------------------------------------------------------------------------------- CSV bodies
    def frame_from_csv(self, body: bytes) -> pd.DataFrame:
        """Rows of a CSV body (a header line of column names), checked like JSON rows."""
        try:
            raw = pd.read_csv(io.BytesIO(body), dtype=str, keep_default_na=True)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as exc:
            raise RequestProblem(400, f"the CSV body cannot be read: {str(exc).splitlines()[0][:200]}") from None
        self.check_count(len(raw))
        rows = [{k: (None if pd.isna(v) else v) for k, v in record.items()} for record in raw.to_dict("records")]
        return self.frame(rows)


def _decode_png(index: int, text: str) -> np.ndarray:
    """A base64 PNG (optionally a data: URL) as a float array of pixel values 0-255."""
    if text.startswith("data:"):
        text = text.split(",", 1)[-1]
    try:
        data = base64.b64decode(text, validate=True)
        from PIL import Image

        with Image.open(io.BytesIO(data)) as image:
            return np.asarray(image.convert("L") if image.mode not in ("L", "RGB") else image, dtype=np.float64)
    except (binascii.Error, ValueError, OSError, ImportError):
        raise RequestProblem(
            422,
            f"row {index}: the image is neither a nested array nor a base64 PNG",
            row=index,
            column="image",
            expected="a nested array of pixel values or a base64-encoded PNG",
        ) from None


def parse_json(body: bytes) -> Any:
    """JSON, or a 400 naming the line and column of the syntax error."""
    try:
        return json.loads(body)
    except UnicodeDecodeError:
        raise RequestProblem(400, "the body is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise RequestProblem(
            400, f"the body is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from None
