"""The HTTP app (FastAPI; imported only by `kproto serve`): GET /health, GET /metadata, POST /predict (JSON rows or a CSV body) and, for time-series runs, POST /forecast, built around a Predictor.

Bad requests are answered 400 (unreadable body), 413 (too large), 415 (unknown content type) or 422 (rows that do
not fit the model) with {"error": {"message", "row", "column", "expected", "received"}}; never 500.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from kproto.core import catalog
from kproto.core.errors import KprotoError
from kproto.serve.batching import MicroBatcher
from kproto.serve.rows import RequestProblem, parse_json

LOG = logging.getLogger("kproto.serve")
MAX_BODY_BYTES = 16 * 1024 * 1024
MAX_SAMPLES = 10_000
MAX_HORIZON = 10_000  # forecast steps one request may ask for
# curl -d sends form encoding unless told otherwise: such bodies are read as JSON too
JSON_TYPES = ("application/json", "", "application/x-www-form-urlencoded")


def _problem_response(problem: RequestProblem) -> Any:
    return JSONResponse({"error": problem.to_dict()}, status_code=problem.status)


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
            f"coverage must be a number strictly between 0 and 1; received {raw!r}",
            column="coverage",
            expected="a number in (0, 1), such as 0.9",
            received=raw[:40],
        )
    return value


def _horizon(value: Any, query: Any) -> int | None:
    """A forecast's horizon from the JSON body's "horizon" or ?horizon=; None when neither gives one."""
    raw = value if value is not None else query.get("horizon")
    if raw is None or raw == "":
        return None
    try:
        number = int(raw) if not isinstance(raw, (bool, float)) else None
    except (TypeError, ValueError):
        number = None
    if number is None or number < 1 or number > MAX_HORIZON:
        raise RequestProblem(
            422,
            f"horizon must be a whole number of steps from 1 to {MAX_HORIZON}; received {raw!r}",
            column="horizon",
            expected=f"a whole number from 1 to {MAX_HORIZON}, such as 12",
            received=str(raw)[:40],
        )
    return number


async def _read_body(request: Any, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it passes `limit` bytes (or declares more)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise RequestProblem(
            413, f"the body is {int(declared)} bytes; the limit is {limit}", expected=f"at most {limit} bytes"
        )
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestProblem(413, f"the body passes the limit of {limit} bytes", expected=f"at most {limit} bytes")
        chunks.append(chunk)
    body = b"".join(chunks)
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


def create_app(
    predictor: Any,
    max_batch: int = 64,
    max_delay_ms: float = 5.0,
    max_body_bytes: int = MAX_BODY_BYTES,
    batching: bool = True,
) -> Any:
    """A FastAPI app answering for `predictor`; `batching=False` calls the model once per request."""
    from contextlib import asynccontextmanager

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
    )
    app.state.predictor = predictor
    app.state.batcher = batcher

    @app.middleware("http")
    async def log_requests(request: Request, call_next: Any) -> Any:
        started = time.perf_counter()
        request.state.rows = None
        try:
            response = await call_next(request)
        except Exception:  # noqa: BLE001 - logged, answered as 500 by the error handler below
            LOG.exception("unexpected error on %s %s", request.method, request.url.path)
            response = JSONResponse({"error": {"message": "internal error", "status": 500}}, status_code=500)
        elapsed = (time.perf_counter() - started) * 1000
        rows = f" rows={request.state.rows}" if request.state.rows is not None else ""
        LOG.info("%s %s %d%s %.1f ms", request.method, request.url.path, response.status_code, rows, elapsed)
        return response

    @app.exception_handler(RequestProblem)
    async def problem_handler(_request: Request, problem: RequestProblem) -> Any:
        return _problem_response(problem)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        """Whether the server is up, and which run it serves."""
        return {"status": "ok", "name": predictor.name, "runtime": predictor.runtime}

    @app.get("/metadata")
    async def metadata() -> dict[str, Any]:
        """Input columns with types and categories, output labels, the recipe's name, metrics and versions."""
        return predictor.metadata()

    @app.post("/forecast")
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
        frame, data = await _request_frame(request)
        horizon = _horizon(data.get("horizon") if isinstance(data, dict) else None, request.query_params)
        trained = int(predictor.preprocessor.state["window"]["horizon"])
        return await _forecast(request, frame, horizon or trained)

    async def _forecast(request: Request, frame: Any, horizon: int | None) -> Any:
        coverage = _coverage(request.query_params)
        request.state.rows = len(frame)
        result = await batcher.run_alone(_forecast_runner(predictor), frame, horizon, coverage)
        if isinstance(result, RequestProblem):
            raise result
        if isinstance(result, Exception):
            raise _as_problem(result)
        return {"forecasts" if horizon is not None else "predictions": result}

    async def _request_frame(request: Request) -> tuple[Any, Any]:
        """The checked rows of a JSON or CSV body, and the parsed JSON (None for CSV)."""
        content_type = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
        body = await _read_body(request, max_body_bytes)
        checker = predictor.checker
        if content_type in ("text/csv", "application/csv"):
            return checker.frame_from_csv(body), None
        if content_type in JSON_TYPES or content_type.endswith("+json"):
            data = parse_json(body)
            return checker.frame(checker.rows_from_json(data)), data
        raise RequestProblem(
            415,
            f"unsupported content type {content_type!r}",
            expected="application/json or text/csv",
            received=content_type,
        )

    @app.post("/predict")
    async def predict(request: Request) -> Any:
        """Rows as JSON ({"rows": [...]} or {"instances": [...]}) or a CSV body; `?coverage=0.9` adds prediction
        sets (classifiers) or intervals (regression). GAN runs take {"samples": N}. Time-series runs: in-sample
        forecasts of the windows whose future the rows hold, or with "horizon" the steps after the last row."""
        coverage = _coverage(request.query_params)
        content_type = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
        body = await _read_body(request, max_body_bytes)
        checker = predictor.checker
        if content_type in ("text/csv", "application/csv"):
            frame = checker.frame_from_csv(body)
            if predictor.kind == catalog.WINDOW:
                return await _forecast(request, frame, _horizon(None, request.query_params))
        elif content_type in JSON_TYPES or content_type.endswith("+json"):
            data = parse_json(body)
            if isinstance(data, dict) and "samples" in data:
                return await _samples(data)
            if predictor.kind == catalog.WINDOW:
                frame = checker.frame(checker.rows_from_json(data))
                horizon = _horizon(data.get("horizon") if isinstance(data, dict) else None, request.query_params)
                return await _forecast(request, frame, horizon)
            frame = checker.frame(checker.rows_from_json(data))
        else:
            raise RequestProblem(
                415,
                f"unsupported content type {content_type!r}",
                expected="application/json or text/csv",
                received=content_type,
            )
        request.state.rows = len(frame)
        if batching:
            result = await batcher.submit(frame, len(frame))
        else:
            (result,) = await batcher.run_alone(_batch_runner(predictor), [frame])
        if isinstance(result, Exception):
            raise _as_problem(result)
        x, outputs = result
        return {"predictions": predictor.answers(x, outputs, coverage)}

    async def _samples(data: dict[str, Any]) -> Any:
        count, seed = data.get("samples"), data.get("seed")
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_SAMPLES:
            raise RequestProblem(
                422,
                f'"samples" must be a whole number from 1 to {MAX_SAMPLES}',
                column="samples",
                received=count if isinstance(count, (int, float)) else str(count)[:40],
            )
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise RequestProblem(422, '"seed" must be a whole number', column="seed")
        if predictor.generate_rows is None:
            predictor.samples(count, seed)  # raises the 422 that names the run's task
        rows = await batcher.run_alone(predictor.samples, count, seed)
        return {"samples": rows}

    return app
