"""The HTTP app (FastAPI; imported only by `kproto serve`): GET /health, GET /metadata, POST /predict (JSON rows or a CSV body) and, for time-series runs, POST /forecast, built around a Predictor.

Bad requests are answered 400 (unreadable body), 408 (body too slow), 413 (too large), 415 (unknown content type)
or 422 (rows that do not fit the model) with {"error": {"message", "status", "row", "column", "expected",
"received"}}; never 500. The OpenAPI document (/openapi.json, kproto.serve.docs) lists every one of them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from kproto.core import catalog
from kproto.core.errors import KprotoError
from kproto.serve.batching import MicroBatcher
from kproto.serve.docs import (
    COVERAGE_PARAMETER,
    HORIZON_PARAMETER,
    MAX_HORIZON,
    MAX_SAMPLES,
    Answers,
    Health,
    error_responses,
    predict_body,
)
from kproto.serve.limits import MAX_BODY_BYTES, Limits
from kproto.serve.rows import RequestProblem, parse_json, received

LOG = logging.getLogger("kproto.serve")
# curl -d sends form encoding unless told otherwise: such bodies are read as JSON too
JSON_TYPES = ("application/json", "", "application/x-www-form-urlencoded")
CSV_TYPES = ("text/csv", "application/csv")
__all__ = ["MAX_BODY_BYTES", "MAX_HORIZON", "MAX_SAMPLES", "create_app"]


def finite(value: Any) -> Any:
    """`value` with every NaN or infinite float replaced by None (JSON has no such numbers)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


class SafeJSONResponse(JSONResponse):
    """JSON that always renders: a NaN in a run's metrics or a model's output is sent as null, never a 500."""

    def render(self, content: Any) -> bytes:
        return json.dumps(finite(content), ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")


def _problem_response(problem: RequestProblem) -> Any:
    return SafeJSONResponse({"error": problem.to_dict()}, status_code=problem.status)


def _coverage(query: Any) -> float | None:
    raw = query.get("coverage")
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not 0.0 < value < 1.0:
        raise RequestProblem(
            422,
            "coverage must be a number strictly between 0 and 1",
            column="coverage",
            expected="a number in (0, 1), such as 0.9",
            received=received(raw),
        )
    return value


def _horizon(value: Any, query: Any) -> int | None:
    """A forecast's horizon from the JSON body's "horizon" or ?horizon=; None when neither gives one."""
    raw = value if value is not None else query.get("horizon")
    if raw is None or raw == "":
        return None
    try:
        number = int(raw) if isinstance(raw, (int, str)) and not isinstance(raw, bool) and len(str(raw)) < 20 else None
    except (TypeError, ValueError):
        number = None
    if number is None or number < 1 or number > MAX_HORIZON:
        raise RequestProblem(
            422,
            f"horizon must be a whole number of steps from 1 to {MAX_HORIZON}",
            column="horizon",
            expected=f"a whole number from 1 to {MAX_HORIZON}, such as 12",
            received=received(raw),
        )
    return number


async def _read_body(request: Any, limit: int, timeout: float) -> bytes:
    """The request body, refused with 413 as soon as it passes `limit` bytes (or declares more), and with 408 when
    it has not arrived after `timeout` seconds."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and len(declared) < 20 and int(declared) > limit:
        raise RequestProblem(
            413, f"the body is {int(declared)} bytes; the limit is {limit}", expected=f"at most {limit} bytes"
        )

    async def read() -> bytes:
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise RequestProblem(
                    413, f"the body passes the limit of {limit} bytes", expected=f"at most {limit} bytes"
                )
            chunks.append(chunk)
        return b"".join(chunks)

    try:
        body = await asyncio.wait_for(read(), timeout)
    except asyncio.TimeoutError:
        raise RequestProblem(
            408, f"the body did not arrive within {timeout:g} s", expected="the whole body, sent at once"
        ) from None
    if not body.strip():
        raise RequestProblem(400, "the body is empty", expected='{"rows": [{"column": value, ...}]} or a CSV body')
    return body


def _batch_runner(predictor: Any) -> Any:
    """run_batch for the batcher: one model call for all frames; if that fails, each frame alone, so a bad
    request fails by itself."""

    def run(frames: list[Any]) -> list[Any]:
        try:
            return predictor.outputs(frames)
        except (KprotoError, ValueError) as exc:
            if len(frames) == 1:
                return [exc]
        results: list[Any] = []
        for frame in frames:
            try:
                results.extend(predictor.outputs([frame]))
            except (KprotoError, ValueError) as exc:
                results.append(exc)
        return results

    return run


def _forecast_runner(predictor: Any) -> Any:
    """A forecast for the batcher's worker: its answers, or the error (answered 422)."""

    def run(frame: Any, horizon: int | None, coverage: float | None) -> Any:
        try:
            return predictor.forecast(frame, horizon, coverage)
        except (KprotoError, ValueError, RequestProblem) as exc:
            return exc

    return run


def _as_problem(exc: Exception) -> RequestProblem:
    """A preprocessing error (a DataError naming a column) as a 422."""
    if isinstance(exc, KprotoError):
        return RequestProblem(422, exc.message, expected=exc.hint)
    return RequestProblem(422, str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__)


# ------------------------------------------------------------------------------------------------ the app
def create_app(
    predictor: Any,
    max_batch: int = 64,
    max_delay_ms: float = 5.0,
    max_body_bytes: int | None = None,
    batching: bool = True,
    limits: Limits | None = None,
) -> Any:
    """A FastAPI app answering for `predictor`; `batching=False` calls the model once per request."""
    limits = limits or Limits()
    if max_body_bytes is not None:
        limits = Limits(**{**limits.__dict__, "max_body_bytes": max_body_bytes})
    batcher = MicroBatcher(_batch_runner(predictor), max_batch=max_batch, max_delay_ms=max_delay_ms)

    @asynccontextmanager
    async def lifespan(_app: Any) -> Any:
        await batcher.start()
        try:
            yield
        finally:
            await batcher.stop()  # after uvicorn has let in-flight requests finish

    app = FastAPI(
        title=f"kproto: {predictor.name}",
        description="Predictions of a kproto run. POST rows to /predict; GET /metadata for the columns.",
        lifespan=lifespan,
        default_response_class=SafeJSONResponse,
    )
    app.state.predictor = predictor
    app.state.batcher = batcher
    app.state.limits = limits
    _add_logging(app)
    _add_error_handlers(app)
    _add_info_routes(app, predictor)
    _add_predict_route(app, predictor, batcher, limits, batching)
    _add_forecast_route(app, predictor, batcher, limits)
    return app


def _add_logging(app: Any) -> None:
    """One log line per request (method, path, status, rows, latency); a client that hung up is logged as such."""

    @app.middleware("http")
    async def log_requests(request: Request, call_next: Any) -> Any:
        started = time.perf_counter()
        request.state.rows = None
        try:
            response = await call_next(request)
        except asyncio.CancelledError:  # the graceful stop timed out while this request was still running
            elapsed = (time.perf_counter() - started) * 1000
            LOG.info("%s %s cancelled: the server stopped %.1f ms", request.method, request.url.path, elapsed)
            raise
        except ClientDisconnect:
            elapsed = (time.perf_counter() - started) * 1000
            LOG.info("%s %s client disconnected before the answer %.1f ms", request.method, request.url.path, elapsed)
            return SafeJSONResponse({"error": {"message": "client disconnected", "status": 400}}, status_code=400)
        except Exception:  # noqa: BLE001 - logged, answered as 500: a bug, never a bad request
            LOG.exception("unexpected error on %s %s", request.method, request.url.path)
            response = SafeJSONResponse({"error": {"message": "internal error", "status": 500}}, status_code=500)
        elapsed = (time.perf_counter() - started) * 1000
        rows = f" rows={request.state.rows}" if request.state.rows is not None else ""
        LOG.info("%s %s %d%s %.1f ms", request.method, request.url.path, response.status_code, rows, elapsed)
        return response


def _add_error_handlers(app: Any) -> None:
    """RequestProblem, FastAPI's own validation errors and HTTP errors (404, 405) all answer the error body."""

    @app.exception_handler(RequestProblem)
    async def problem_handler(_request: Request, problem: RequestProblem) -> Any:
        return _problem_response(problem)

    @app.exception_handler(RequestValidationError)
    async def validation_handler(_request: Request, exc: RequestValidationError) -> Any:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return _problem_response(RequestProblem(422, f"{where}: {first.get('msg', 'invalid')}", column=where or None))

    @app.exception_handler(StarletteHTTPException)
    async def http_handler(_request: Request, exc: StarletteHTTPException) -> Any:
        return _problem_response(RequestProblem(exc.status_code, str(exc.detail)))


def _add_info_routes(app: Any, predictor: Any) -> None:
    @app.get("/health", response_model=Health)
    async def health() -> dict[str, Any]:
        """Whether the server is up, and which run it serves."""
        return {"status": "ok", "name": predictor.name, "runtime": predictor.runtime}

    @app.get("/metadata", response_model=dict[str, Any])
    async def metadata() -> dict[str, Any]:
        """Input columns with types and categories, output labels, the recipe's name, metrics and versions."""
        return predictor.metadata()


def _add_predict_route(app: Any, predictor: Any, batcher: MicroBatcher, limits: Limits, batching: bool) -> None:
    checker = predictor.checker
    generates = predictor.generate_rows is not None
    windows = predictor.kind == catalog.WINDOW

    @app.post(
        "/predict",
        response_model=Answers,
        response_model_exclude_none=True,
        responses=error_responses(400, 408, 413, 415, 422),
        openapi_extra={
            "requestBody": predict_body(checker.columns, generates, checker.max_rows, forecasts=windows),
            "parameters": [COVERAGE_PARAMETER, *([HORIZON_PARAMETER] if windows else [])],
        },
    )
    async def predict(request: Request) -> Any:
        """Rows as JSON ({"rows": [...]} or {"instances": [...]}) or a CSV body; `?coverage=0.9` adds prediction
        sets (classifiers) or intervals (regression). GAN runs take {"samples": N}. Time-series runs: in-sample
        forecasts of the windows whose future the rows hold, or with "horizon" the steps after the last row. A
        numeric column takes a number or a string holding one; see the README's serving section for the rule on
        types."""
        coverage = _coverage(request.query_params)
        data, body, is_csv = await _request_data(request, limits)
        if isinstance(data, dict) and "samples" in data:
            return SafeJSONResponse({"samples": await _samples(predictor, batcher, data)})
        frame = checker.frame_from_csv(body) if is_csv else checker.frame(checker.rows_from_json(data))
        if predictor.kind == catalog.WINDOW:  # in-sample forecasts, or with "horizon" the steps after the rows
            horizon = _horizon(data.get("horizon") if isinstance(data, dict) else None, request.query_params)
            return await _forecast(predictor, batcher, request, frame, horizon)
        request.state.rows = len(frame)
        if batching:
            result = await batcher.submit(frame, len(frame))
        else:
            (result,) = await batcher.run_alone(_batch_runner(predictor), [frame])
        if isinstance(result, Exception):
            raise _as_problem(result)
        x, outputs = result
        return SafeJSONResponse({"predictions": predictor.answers(x, outputs, coverage)})  # documented as Answers


def _add_forecast_route(app: Any, predictor: Any, batcher: MicroBatcher, limits: Limits) -> None:
    checker = predictor.checker

    @app.post(
        "/forecast",
        response_model=dict[str, Any],
        responses=error_responses(400, 408, 413, 415, 422),
        openapi_extra={
            "requestBody": predict_body(checker.columns, False, checker.max_rows, forecasts=True),
            "parameters": [COVERAGE_PARAMETER, HORIZON_PARAMETER],
        },
    )
    async def forecast(request: Request) -> Any:
        """Time-series runs: the rows of one or more series (JSON or CSV, oldest first) and `horizon` (in the body
        or as ?horizon=; default the run's) give the steps after the last row of each series, with their times;
        `?coverage=0.9` adds conformal intervals."""
        if predictor.kind != catalog.WINDOW:
            raise RequestProblem(
                422,
                f"/forecast answers time-series runs; this is a {predictor.info.task} run on {predictor.kind} data",
                expected="POST /predict",
            )
        data, body, is_csv = await _request_data(request, limits)
        frame = checker.frame_from_csv(body) if is_csv else checker.frame(checker.rows_from_json(data))
        horizon = _horizon(data.get("horizon") if isinstance(data, dict) else None, request.query_params)
        trained = int(predictor.preprocessor.state["window"]["horizon"])
        return await _forecast(predictor, batcher, request, frame, horizon or trained)


async def _request_data(request: Request, limits: Limits) -> tuple[Any, bytes, bool]:
    """The body of a request: (parsed JSON or None, the raw bytes, whether it is CSV); 415 for other types."""
    content_type = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if not (content_type in CSV_TYPES or content_type in JSON_TYPES or content_type.endswith("+json")):
        raise RequestProblem(
            415,
            f"unsupported content type {content_type[:80]!r}",
            expected="application/json or text/csv",
            received=received(content_type),
        )
    body = await _read_body(request, limits.max_body_bytes, limits.body_timeout)
    if content_type in CSV_TYPES:
        return None, body, True
    return parse_json(body), body, False


async def _forecast(predictor: Any, batcher: MicroBatcher, request: Request, frame: Any, horizon: int | None) -> Any:
    """Forecasts of checked rows: with `horizon` the steps after each series' last row, else in-sample."""
    coverage = _coverage(request.query_params)
    request.state.rows = len(frame)
    result = await batcher.run_alone(_forecast_runner(predictor), frame, horizon, coverage)
    if isinstance(result, RequestProblem):
        raise result
    if isinstance(result, Exception):
        raise _as_problem(result)
    return SafeJSONResponse({"forecasts" if horizon is not None else "predictions": result})


async def _samples(predictor: Any, batcher: MicroBatcher, data: dict[str, Any]) -> list[dict[str, Any]]:
    """Generated rows for {"samples": N, "seed": S}."""
    count, seed = data.get("samples"), data.get("seed")
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_SAMPLES:
        raise RequestProblem(
            422,
            f'"samples" must be a whole number from 1 to {MAX_SAMPLES}',
            column="samples",
            received=received(count),
        )
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32):
        raise RequestProblem(422, '"seed" must be a whole number from 0 to 2^32 - 1', column="seed")
    if predictor.generate_rows is None:
        predictor.samples(count, seed)  # raises the 422 that names the run's task
    return await batcher.run_alone(predictor.samples, count, seed)
