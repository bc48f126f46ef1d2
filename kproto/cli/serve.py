"""`kproto serve`: a run's predictions over HTTP, micro-batched, on 127.0.0.1 unless told otherwise."""

from __future__ import annotations

from pathlib import Path

import click

from kproto.cli.common import TRUST, setup_backend
from kproto.core import catalog


@click.command("serve")
@click.argument("path", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind (loopback only by default).")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="TCP port.")
@click.option(
    "--runtime",
    type=click.Choice(["keras", "onnx"]),
    default="keras",
    show_default=True,
    help="keras: the run's model.keras; onnx: RUN/export/model.onnx with onnxruntime (no TensorFlow or Keras).",
)
@click.option(
    "--max-batch",
    type=click.IntRange(min=1),
    default=64,
    show_default=True,
    help="Most rows in one model call when concurrent requests are batched.",
)
@click.option(
    "--max-delay-ms",
    type=click.FloatRange(min=0),
    default=5.0,
    show_default=True,
    help="Longest wait for more requests to join a batch.",
)
@click.option(
    "--header-timeout",
    type=click.FloatRange(0, 3600, min_open=True),
    default=5.0,
    show_default=True,
    metavar="S",
    help="Close a connection whose request headers are not complete after S seconds.",
)
@click.option(
    "--body-timeout",
    type=click.FloatRange(0, 3600, min_open=True),
    default=10.0,
    show_default=True,
    metavar="S",
    help="Answer 408 when a request's body has not arrived after S seconds.",
)
@click.option(
    "--shutdown-timeout",
    type=click.FloatRange(0, 3600, min_open=True),
    default=5.0,
    show_default=True,
    metavar="S",
    help="On SIGINT/SIGTERM, let requests in flight finish for up to S seconds, then stop.",
)
@TRUST
def serve_command(
    path: Path,
    host: str,
    port: int,
    runtime: str,
    max_batch: int,
    max_delay_ms: float,
    header_timeout: float,
    body_timeout: float,
    shutdown_timeout: float,
    trust: bool,
) -> None:
    """Serve a run over HTTP: POST /predict (JSON rows or CSV), GET /metadata, GET /health, docs at /docs."""
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        from kproto.core.errors import KprotoError

        raise KprotoError(
            f"kproto serve needs FastAPI and uvicorn ({exc})", field="serve", hint="pip install 'kproto[serve]'"
        ) from None
    if runtime == "keras":
        from kproto.core.backend import installed
        from kproto.runs.load import load_run

        recorded = load_run(path).metrics.get("backend")  # the backend it was trained on, when installed here
        usable = recorded in catalog.KERAS_BACKENDS and installed(recorded)
        setup_backend(recorded if usable else "tensorflow", "cpu")
    from kproto.serve.limits import Limits
    from kproto.serve.server import serve_run

    limits = Limits(header_timeout=header_timeout, body_timeout=body_timeout, shutdown_timeout=shutdown_timeout)
    serve_run(
        path,
        host=host,
        port=port,
        runtime=runtime,
        max_batch=max_batch,
        max_delay_ms=max_delay_ms,
        trust=trust,
        echo=lambda line: click.echo(line, err=True),
        limits=limits,
    )
