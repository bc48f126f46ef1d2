"""Starting and stopping the HTTP server: uvicorn on 127.0.0.1 by default, graceful stop on SIGTERM."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kproto.core.errors import KprotoError
from kproto.serve.limits import Limits

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


def configure_logging() -> None:
    """One line per request on stderr: 'time POST /predict 200 rows=3 4.1 ms'."""
    logger = logging.getLogger("kproto.serve")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


def loopback_note(host: str) -> str:
    """What the start-up line says about who can reach the server."""
    if host in ("127.0.0.1", "localhost", "::1"):
        return "loopback only: other machines cannot reach it (pass --host 0.0.0.0 to allow them)"
    return f"listening on {host}: reachable from other machines; kproto serve has no authentication"


def make_server(app: Any, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, limits: Limits | None = None) -> Any:
    """A uvicorn Server for `app`: no access log of its own (the app logs each request with its latency), request
    headers bounded by `limits.header_timeout`, idle connections by `limits.keep_alive`, and on SIGINT/SIGTERM
    in-flight requests finished for up to `limits.shutdown_timeout` seconds (then cancelled)."""
    import uvicorn

    from kproto.serve.protocol import protocol_class

    limits = limits or getattr(getattr(app, "state", None), "limits", None) or Limits()
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        http=protocol_class(limits.header_timeout),
        timeout_keep_alive=limits.keep_alive,  # type: ignore[arg-type]  # uvicorn takes any number of seconds
        timeout_graceful_shutdown=limits.shutdown_timeout,  # type: ignore[arg-type]
        lifespan="on",
    )
    return uvicorn.Server(config)


def serve_run(
    path: Path,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    runtime: str = "keras",
    max_batch: int = 64,
    max_delay_ms: float = 5.0,
    trust: bool = False,
    echo: Callable[[str], None] = print,
    limits: Limits | None = None,
) -> None:
    """Load the run and serve it until SIGINT or SIGTERM."""
    if not 0 <= port <= 65535:
        raise KprotoError(f"--port must be from 0 to 65535; received {port}", field="--port")
    from kproto.serve.predictor import load_predictor

    predictor = load_predictor(path, runtime=runtime, trust=trust)
    from kproto.serve.app import create_app

    predictor.warm_up(max_batch)
    limits = limits or Limits()
    app = create_app(predictor, max_batch=max_batch, max_delay_ms=max_delay_ms, limits=limits)
    configure_logging()
    server = make_server(app, host, port, limits)
    shown = f"[{host}]" if ":" in host else host
    echo(
        f"serving {predictor.name} ({predictor.info.task}, {runtime}) on http://{shown}:{port}  ({loopback_note(host)})"
    )
    echo(f"POST /predict, GET /metadata, GET /health, docs at http://{shown}:{port}/docs; Ctrl-C or SIGTERM stops")
    server.run()
