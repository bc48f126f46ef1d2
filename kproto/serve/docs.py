"""The server's OpenAPI document: request bodies built from the run's columns, answer and error bodies.

Every status the app answers with is listed (200, 400, 408, 413, 415, 422), each with its JSON body, so that a
client generator or a fuzzer (schemathesis, in the test suite) knows what to send and what comes back.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from kproto.serve.rows import Column

MAX_SAMPLES = 10_000
MAX_HORIZON = 10_000  # forecast steps one request may ask for
FLOAT_MAX = 1.7e308  # a little under the largest float: anything past it is refused as not finite
DECIMAL = r"^\s*[-+]?([0-9]{1,15}(\.[0-9]{0,15})?|\.[0-9]{1,15})([eE][-+]?[0-9]{1,2})?\s*$"  # a numeric string


class ErrorDetail(BaseModel):
    """What went wrong, where (row and column), what was expected and what was received."""

    model_config = ConfigDict(extra="allow")
    message: str = Field(description="The problem in one sentence.")
    status: int = Field(description="The HTTP status code, repeated.")
    row: int | None = Field(None, description="The 0-based row of the request the problem is in.")
    column: str | None = Field(None, description="The column (or field, such as coverage) the problem is in.")
    expected: Any = Field(None, description="What the server expected there.")
    received: Any = Field(None, description="What it received (shortened).")


class ErrorBody(BaseModel):
    """Every answer other than 200: {"error": {...}}."""

    error: ErrorDetail


class Health(BaseModel):
    status: str = Field(description='"ok" while the server answers.')
    name: str = Field(description="The run's recipe name.")
    runtime: str = Field(description="keras or onnx.")


class Answers(BaseModel):
    """Predictions for the rows sent, in their order (or generated rows for {"samples": N})."""

    model_config = ConfigDict(extra="allow")
    predictions: list[dict[str, Any]] | None = Field(None, description="One answer per row, in the request's order.")
    samples: list[dict[str, Any]] | None = Field(None, description='GAN runs: the generated rows of {"samples": N}.')


ERROR_STATUSES = {
    400: "The body cannot be read: empty, not JSON, not UTF-8, nested past about 1,000 levels, "
    "an unreadable CSV, or no rows.",
    408: "The body did not arrive within the server's body timeout.",
    413: "The body is larger than the limit, or holds more rows than the limit.",
    415: "The content type is neither JSON nor CSV.",
    422: "Rows that do not fit the model: an unknown or missing column, a value of the wrong type, a number that is "
    "not finite or too large, an unseen category (with missing: error), or a coverage that is out of range or that "
    "the run cannot give (no conformal scores).",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The `responses` of a route for these error statuses, each with the error body."""
    return {status: {"model": ErrorBody, "description": ERROR_STATUSES[status]} for status in statuses}


def _cell_schema(column: Column) -> dict[str, Any]:
    if column.type == "numeric":
        return {
            "anyOf": [
                {"type": "number", "minimum": -FLOAT_MAX, "maximum": FLOAT_MAX},
                {"type": "string", "pattern": DECIMAL},
                {"type": "null"},
            ],
            "description": "A finite number, a string holding one (as in a CSV cell), or null to impute it.",
        }
    if column.type == "categorical":
        described = "One of the training categories; others are imputed (or refused with missing: error)."
        return {"anyOf": [{"type": "string"}, {"type": "null"}], "description": described}
    described = "An id (a user, an item, a series)." if column.type == "id" else "Text (a number is read as its text)."
    return {"anyOf": [{"type": "string"}, {"type": "number"}, {"type": "null"}], "description": described}


def predict_body(columns: list[Column], generates: bool, max_rows: int, forecasts: bool = False) -> dict[str, Any]:
    """The requestBody of POST /predict (and /forecast): JSON rows (objects keyed by column), positional instances,
    a CSV body, (GAN runs) a number of samples, or (time-series runs) rows with a forecast horizon."""
    row = {
        "type": "object",
        "properties": {c.name: _cell_schema(c) for c in columns},
        "required": [c.name for c in columns],
        "additionalProperties": False,
    }
    rows = {"type": "array", "items": row, "minItems": 1, "maxItems": max_rows}
    shapes: list[dict[str, Any]] = [
        {
            "type": "object",
            "properties": {"rows": rows},
            "required": ["rows"],
            "additionalProperties": False,
            "description": "Rows as objects of column values.",
        },
        {
            "type": "object",
            "properties": {"instances": rows},
            "required": ["instances"],
            "additionalProperties": False,
            "description": "KServe style: rows as objects, or as lists of values in the order of /metadata.",
        },
    ]
    if forecasts:  # time-series runs: the rows of one or more series, and how many steps to forecast after them
        horizon = {"type": "integer", "minimum": 1, "maximum": MAX_HORIZON}
        for shape in shapes:
            shape["properties"]["horizon"] = horizon
    if generates:
        shapes = [
            {
                "type": "object",
                "properties": {
                    "samples": {"type": "integer", "minimum": 1, "maximum": MAX_SAMPLES},
                    "seed": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1},
                },
                "required": ["samples"],
                "additionalProperties": False,
                "description": "GAN runs: how many rows to generate, and an optional seed.",
            }
        ]
    csv_body = {
        "type": "string",
        "description": "CSV with a header row of the column names; empty cells are imputed.",
    }
    return {
        "required": True,
        "content": {"application/json": {"schema": {"oneOf": shapes}}, "text/csv": {"schema": csv_body}},
    }


COVERAGE_PARAMETER = {
    "name": "coverage",
    "in": "query",
    "required": False,
    "description": "Conformal prediction at this coverage: prediction sets (classifiers) or intervals (regression).",
    "schema": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
}


HORIZON_PARAMETER = {
    "name": "horizon",
    "in": "query",
    "required": False,
    "description": "Time-series runs: how many steps after the last row of each series to forecast.",
    "schema": {"type": "integer", "minimum": 1, "maximum": MAX_HORIZON},
}
