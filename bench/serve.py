"""Serving throughput: `kproto serve` (micro-batched) against a plain FastAPI server that calls model.predict once
per request, both on loopback, each in its own process, with a bounded number of requests.

    python bench/serve.py                      # trains digits_mlp for 2 epochs into a temporary folder first
    python bench/serve.py --run runs/digits-mlp/<stamp> --clients 1,8,32 --requests 200,400,800

Prints p50/p99 latency and rows/s per concurrency for both servers, and the ratio of rows/s; writes the numbers
as JSON to bench/results/serve-<stamp>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


# ------------------------------------------------------------------------------------------ the two servers
def baseline_app(run_path: Path) -> Any:
    """What a user would write: FastAPI, the run's preprocessing, one model.predict per request."""
    import numpy as np
    import pandas as pd
    from fastapi import FastAPI

    from kproto.data import Preprocessor, transform_rows
    from kproto.runs.load import load_keras_model, load_run

    run = load_run(run_path)
    pre = Preprocessor.from_dict(run.preprocess)
    model = load_keras_model(run.model_path, compile=False)
    classes = run.info.class_names or []
    app = FastAPI()

    @app.post("/predict")
    def predict(body: dict[str, Any]) -> dict[str, Any]:
        frame = pd.DataFrame(body["rows"])
        x, _ = transform_rows(pre, frame, need_target=False)
        p = np.asarray(model.predict(x, verbose=0))
        return {
            "predictions": [
                {"prediction": classes[int(row.argmax())], "probabilities": dict(zip(map(str, classes), row.tolist()))}
                for row in p
            ]
        }

    return app


def run_baseline(run_path: Path, port: int) -> None:
    """Serve the baseline in this process (TensorFlow backend, Keras's default) until killed."""
    from kproto.core.backend import configure

    configure("tensorflow", "cpu")
    import uvicorn

    uvicorn.run(baseline_app(run_path), host="127.0.0.1", port=port, log_level="warning", access_log=False)


# ------------------------------------------------------------------------------------------ the load
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def load(url: str, rows: list[dict[str, Any]], clients: int, requests: int) -> dict[str, float]:
    """`requests` POSTs of `rows` shared by `clients` concurrent clients; latency percentiles and rows/s."""
    import httpx
    import numpy as np

    latencies: list[float] = []
    remaining = [requests]
    failures = [0]

    async def client() -> None:
        async with httpx.AsyncClient(base_url=url, timeout=120) as http:
            while remaining[0] > 0:
                remaining[0] -= 1
                started = time.perf_counter()
                response = await http.post("/predict", json={"rows": rows})
                latencies.append(time.perf_counter() - started)
                if response.status_code != 200:
                    failures[0] += 1

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    elapsed = time.perf_counter() - started
    ms = np.asarray(latencies) * 1000
    return {
        "clients": clients,
        "requests": len(latencies),
        "failures": failures[0],
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
        "rows_per_s": len(latencies) * len(rows) / elapsed,
        "seconds": elapsed,
    }


def wait_ready(url: str, process: subprocess.Popen, seconds: float = 180) -> None:
    import httpx

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        try:
            httpx.post(f"{url}/predict", json={"rows": []}, timeout=2)
            return
        except httpx.TransportError:
            time.sleep(0.3)
    raise RuntimeError("the server did not start")


def measure(kind: str, run_path: Path, rows: list[dict], plan: list[tuple[int, int]], args: Any) -> list[dict]:
    port = free_port()
    if kind == "kproto":  # the real command, with the backend it picks (the run's own)
        command = [sys.executable, "-m", "kproto", "serve", str(run_path), "--port", str(port)]
    else:
        command = [sys.executable, __file__, "--serve", kind, "--run", str(run_path), "--port", str(port)]
    command += ["--max-batch", str(args.max_batch), "--max-delay-ms", str(args.max_delay_ms)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, process)
        asyncio.run(load(url, rows, 4, 40))  # warm-up: compiled shapes, connection pools
        results = []
        for clients, requests in plan:
            result = asyncio.run(load(url, rows, clients, requests))
            print(
                f"  {kind:8} {clients:3} clients: p50 {result['p50_ms']:7.1f} ms  p99 {result['p99_ms']:7.1f} ms  "
                f"{result['rows_per_s']:8.0f} rows/s  ({result['requests']} requests, {result['failures']} failed)",
                flush=True,
            )
            results.append(result)
        return results
    finally:
        process.terminate()
        process.wait(timeout=60)


def train_default(folder: Path) -> Path:
    """digits_mlp, 2 epochs, into `folder`."""
    command = [sys.executable, "-m", "kproto", "train", str(ROOT / "recipes" / "digits_mlp.yaml")]
    command += ["--set", "train.epochs=2", "--out", str(folder)]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    (metrics,) = folder.glob("*/*/metrics.json")
    return metrics.parent


def sample_rows(run_path: Path, count: int) -> list[dict[str, Any]]:
    """`count` raw rows of the run's own data file (feature columns only), as JSON values."""
    import pandas as pd

    from kproto.runs.load import load_run

    run = load_run(run_path)
    frame = pd.read_csv(run.recipe.data.path, nrows=count)
    features = run.preprocess.get("features") or [c for c in frame.columns if c != run.recipe.data.target]
    frame = frame[features]
    return [{k: (None if pd.isna(v) else v) for k, v in row.items()} for row in frame.to_dict("records")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, help="A classification run folder (default: train digits_mlp).")
    parser.add_argument("--clients", default="1,8,32")
    parser.add_argument("--requests", default="200,400,800", help="Requests per concurrency level.")
    parser.add_argument("--rows", type=int, default=1, help="Rows per request.")
    parser.add_argument("--max-batch", type=int, default=64)
    parser.add_argument("--max-delay-ms", type=float, default=5.0)
    parser.add_argument("--serve", choices=["baseline"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        run_baseline(args.run, args.port)
        return
    plan = list(zip(map(int, args.clients.split(",")), map(int, args.requests.split(","))))
    with tempfile.TemporaryDirectory() as scratch:
        run_path = args.run or train_default(Path(scratch))
        rows = sample_rows(run_path, args.rows)
        print(
            f"run {run_path}; {args.rows} row(s) per request; max_batch {args.max_batch}, "
            f"max_delay_ms {args.max_delay_ms}",
            flush=True,
        )
        results = {kind: measure(kind, run_path, rows, plan, args) for kind in ("baseline", "kproto")}
    print(
        "\nclients | baseline rows/s | kproto rows/s | ratio | p50 ms (baseline / kproto) | p99 ms (baseline / kproto)"
    )
    for base, ours in zip(results["baseline"], results["kproto"]):
        ratio = ours["rows_per_s"] / base["rows_per_s"]
        print(
            f"{ours['clients']:7} | {base['rows_per_s']:15.0f} | {ours['rows_per_s']:13.0f} | {ratio:5.2f}x | "
            f"{base['p50_ms']:.1f} / {ours['p50_ms']:.1f} | {base['p99_ms']:.1f} / {ours['p99_ms']:.1f}"
        )
    out = ROOT / "bench" / "results" / f"serve-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"rows_per_request": args.rows, "plan": plan, **results}, indent=2) + "\n")
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
