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
from kproto.core.text import clean


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
    if kind == catalog.MIXED:  # several inputs: text and image-path columns take strings, the table columns theirs
        inputs = state["inputs"]
        table = [*inputs.get("tabular", {}).get("columns", []), *inputs.get("categorical", {}).get("columns", [])]
        by_name = {c["name"]: c for c in table}
        columns = []
        for name in state["features"]:
            column = by_name.get(name)
            if column is None:
                columns.append(Column(name, "text"))
            else:
                categories = list(column["values"]) if column["type"] == "categorical" else None
                columns.append(Column(name, column["type"], categories))
        return columns
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


def received(value: Any) -> Any:
    """A short, JSON-safe echo of a received value: never NaN or infinity, never a 5,000-digit number or a deeply
    nested list (the answer must always render)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, Unusable):
        return value.describe()
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, int):
        return value if abs(value) < 10**15 else f"an integer of {_digits(value)} digits"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return clean(value, 80)


def _kind(value: Any) -> str:
    """The JSON kind of a received value, for messages."""
    if isinstance(value, Unusable) or (isinstance(value, (int, float)) and not isinstance(value, bool)):
        return "number"
    names = {str: "string", bool: "boolean", dict: "object", list: "list"}
    return names.get(type(value), type(value).__name__)


def _digits(value: int) -> str:
    """How many decimal digits `value` has (without converting it to text, which Python limits)."""
    return f"about {int(abs(value).bit_length() * 0.30103) + 1:,}"


def _number(text: str) -> float | None:
    """A string holding a decimal number (as a CSV cell does) as a float, or None."""
    if len(text) > 400:
        return None
    try:
        return float(text)
    except ValueError:
        return None


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
                received=[clean(k, 80) for k in sorted(map(str, body))[:10]],
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
                    f"row {index} has the column {clean(unknown[0], 80)!r}, which the model was not trained on",
                    row=index,
                    column=clean(unknown[0], 80),
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
        """One cell under the rule of types (README, "kproto serve"): a numeric column takes a number or a string
        holding one (a CSV cell is text), finite and within float range; a categorical column takes a string, or a
        number whose text is one of its training categories; a text or id column (a time, a user) takes a string or
        a number, as its text; null is imputed. Anything else is a 422 that names the row and column."""
        if value is None:
            return None
        if isinstance(value, Unusable):
            raise self._wrong_type(index, column, value, "a finite number (at most about 1.8e308) or null")
        if column.type == "numeric":
            if isinstance(value, bool) or not isinstance(value, (int, float, str)):
                raise self._wrong_type(index, column, value, "a number or null")
            number = _number(value) if isinstance(value, str) else _float(value)
            if number is None and isinstance(value, str):
                raise self._wrong_type(index, column, value, "a number or null")
            if number is None or not math.isfinite(number):
                raise self._wrong_type(index, column, value, "a finite number (at most about 1.8e308) or null")
            return number
        if isinstance(value, bool) or isinstance(value, (dict, list)):
            raise self._wrong_type(index, column, value, "a string or null")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            text = _number_text(value)
            allowed = column.type != "categorical" or text in (column.categories or [])
            if text is None or not allowed:
                expected = "a string or null" + (
                    " (a number only when its text is a training category)" if column.type == "categorical" else ""
                )
                raise self._wrong_type(index, column, value, expected)
            return text
        text = str(value)
        if column.type == "categorical" and self.missing == "error" and text not in (column.categories or []):
            raise RequestProblem(
                422,
                f"row {index}, column {column.name!r}: the category {clean(text, 80)!r} was never seen in training",
                row=index,
                column=column.name,
                expected=(column.categories or [])[:50],
                received=received(value),
            )
        return text

    def _wrong_type(self, index: int, column: Column, value: Any, expected: str) -> RequestProblem:
        return RequestProblem(
            422,
            f"row {index}, column {column.name!r}: expected {expected}, received {_kind(value)} {received(value)!r}",
            row=index,
            column=column.name,
            expected=expected,
            received=received(value),
        )

    def _image_row(self, index: int, image: Any) -> dict[str, Any]:
        """A nested array or a base64 PNG, as one value per pixel column."""
        shape = self.image_shape or ()
        if isinstance(image, str):
            pixels = _decode_png(index, image)
        else:
            try:
                pixels = np.asarray(image, dtype=np.float64)
            except (TypeError, ValueError, OverflowError):
                raise RequestProblem(
                    422, f"row {index}: the image is not a numeric array", row=index, column="image"
                ) from None
        if pixels.dtype.kind == "f" and not np.isfinite(pixels).all():
            raise RequestProblem(
                422, f"row {index}: the image holds a value that is not finite", row=index, column="image"
            )
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


def _float(value: int | float) -> float | None:
    """A JSON number as a float, or None when it is past float range (a 400-digit integer)."""
    try:
        return float(value)
    except OverflowError:
        return None


def _number_text(value: int | float) -> str | None:
    """A number's text as a category would hold it ("3" for 3, "2.5" for 2.5), or None for a huge one."""
    if isinstance(value, int):
        return str(value) if abs(value) < 10**18 else None
    return repr(value) if math.isfinite(value) else None


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


@dataclass(frozen=True)
class Unusable:
    """A JSON token Python would read but a model cannot use: NaN, Infinity, -Infinity (not JSON, though Python's
    parser accepts them) or an integer of more than MAX_DIGITS digits. Kept in place so the 422 names its field."""

    text: str

    def describe(self) -> str:
        if self.text in ("NaN", "Infinity", "-Infinity"):
            return f"{self.text} (not a JSON number)"
        return f"an integer of {len(self.text.lstrip('-')):,} digits"


MAX_DIGITS = 300  # a float holds at most 309 integer digits; longer integers can only be refused


def _parse_int(text: str) -> Any:
    return int(text) if len(text) <= MAX_DIGITS else Unusable(text[:1] + "0" * (len(text) - 1))


def parse_json(body: bytes) -> Any:
    """JSON, or a 400 naming what is wrong: a syntax error (line and column), nesting past Python's recursion
    limit (about 1,000 levels), text that is not UTF-8. NaN, Infinity and integers of more than MAX_DIGITS digits
    stay in place as `Unusable`, so the 422 names their field."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise RequestProblem(400, "the body is not UTF-8 text") from None
    try:
        return json.loads(text, parse_constant=Unusable, parse_int=_parse_int)
    except json.JSONDecodeError as exc:
        raise RequestProblem(
            400, f"the body is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from None
    except RecursionError:
        raise RequestProblem(
            400, "the body nests lists or objects too deeply", expected="at most 1,000 levels"
        ) from None
    except ValueError as exc:  # an integer of more than 4,300 digits
        raise RequestProblem(400, f"the body holds a number JSON cannot give here: {clean(exc, 120)}") from None
