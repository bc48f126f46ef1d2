"""Hostile requests against a real `kproto serve` (a run built without training, on a free 127.0.0.1 port): every
bad body is a 4xx naming the field, never a 500; the rule of value types; header and body timeouts; a bounded
graceful stop; a client that hangs up is logged as such. Each test sends a bounded number of requests."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from helpers import LiveServer

from kproto.serve.limits import Limits

GOOD = {"x1": 0.5, "x2": -1.0, "color": "red"}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, tiny_run: Callable[[Path], Path]) -> Path:
    return tiny_run(tmp_path_factory.mktemp("served"))


@pytest.fixture(scope="module")
def server(run: Path) -> Iterator[LiveServer]:
    """One server for the request tables: 1 s header and body timeouts, 2 s graceful stop."""
    live = LiveServer(run, "--header-timeout", "1", "--body-timeout", "1", "--shutdown-timeout", "2")
    try:
        yield live
    finally:
        live.kill()


def _row(**cells: object) -> str:
    """A JSON body of one row, GOOD with `cells` replaced by raw JSON text."""
    parts = [f'"{k}": {cells[k] if k in cells else json.dumps(v)}' for k, v in GOOD.items()]
    return '{"rows": [{' + ", ".join(parts) + "}]}"


HOSTILE_JSON = {
    "NaN": (_row(x1="NaN"), 422, "x1"),
    "Infinity": (_row(x2="Infinity"), 422, "x2"),
    "-Infinity": (_row(x1="-Infinity"), 422, "x1"),
    "1e400": (_row(x1="1e400"), 422, "x1"),
    "-1e400": (_row(x2="-1e400"), 422, "x2"),
    "400-digit integer": (_row(x1="1" * 400), 422, "x1"),
    "10^5000": (_row(x1="1" + "0" * 5000), 422, "x1"),
    "huge integer as a category": (_row(color="9" * 400), 422, "color"),
    "NaN as a category": (_row(color="NaN"), 422, "color"),
    "string 1e400": (_row(x1='"1e400"'), 422, "x1"),
    "string nan": (_row(x1='"nan"'), 422, "x1"),
    "string of 500 digits": (_row(x1='"' + "7" * 500 + '"'), 422, "x1"),
    "a number as a category": (_row(color="3"), 422, "color"),
    "a boolean as a category": (_row(color="true"), 422, "color"),
    "an object as a number": (_row(x1='{"a": 1}'), 422, "x1"),
    "a list as a category": (_row(color='["red"]'), 422, "color"),
    "900-deep value": (_row(x1="[" * 900 + "]" * 900), 422, "x1"),
    "5,000-deep value": (_row(x1="[" * 5000 + "]" * 5000), 400, None),
    "100,000 nested [": ("[" * 100_000, 400, None),
    "deep objects": ('{"a":' * 3000 + "1" + "}" * 3000, 400, None),
    "NaN samples": ('{"samples": NaN}', 422, "samples"),
    "huge samples": ('{"samples": ' + "9" * 5000 + "}", 422, "samples"),
    "not UTF-8": ('{"rows": ["\udcff"]}', 400, None),
    "a 1 MB column name": ('{"rows": [{"' + "c" * 1_000_000 + '": 1}]}', 422, "c" * 80 + "… (999,920 more characters)"),
}


@pytest.mark.parametrize("case", list(HOSTILE_JSON), ids=list(HOSTILE_JSON))
def test_hostile_json_is_a_4xx_naming_the_field(server: LiveServer, case: str) -> None:
    body, status, column = HOSTILE_JSON[case]
    raw = body.encode("utf-8", "surrogateescape")
    response = httpx.post(f"{server.url}/predict", content=raw, headers={"content-type": "application/json"})
    assert response.status_code == status, response.text[:500]
    error = response.json()["error"]
    assert error["status"] == status and error["message"]
    assert error.get("column") == column, error
    assert len(response.text) < 5000, "the answer echoes at most a short part of what it received"


HOSTILE_CSV = {
    "inf": ("x1,x2,color\ninf,1,red\n", "x1"),
    "-Infinity": ("x1,x2,color\n1,-Infinity,red\n", "x2"),
    "1e400": ("x1,x2,color\n1e400,1,red\n", "x1"),
    "400-digit number": ("x1,x2,color\n" + "9" * 400 + ",1,red\n", "x1"),
    "5000-digit number": ("x1,x2,color\n1," + "9" * 5000 + ",red\n", "x2"),
    "NaN text": ("x1,x2,color\nNaN-ish,1,red\n", "x1"),
    "unknown column": ("x1,x2,colour\n1,1,red\n", "colour"),
}


@pytest.mark.parametrize("case", list(HOSTILE_CSV), ids=list(HOSTILE_CSV))
def test_hostile_csv_is_a_422_naming_the_column(server: LiveServer, case: str) -> None:
    body, column = HOSTILE_CSV[case]
    response = httpx.post(f"{server.url}/predict", content=body.encode(), headers={"content-type": "text/csv"})
    assert response.status_code == 422, response.text[:500]
    assert response.json()["error"]["column"] == column


# The rule of types (README, "kproto serve"): numeric columns take numbers or strings holding one; categorical
# columns take strings, or a number whose text is a training category; null is imputed.
TYPES = {
    "numbers": ({"x1": 1, "x2": -2.5, "color": "blue"}, 200),
    "numeric strings": ({"x1": "0.5", "x2": " -2e-3 ", "color": "green"}, 200),
    "nulls": ({"x1": None, "x2": None, "color": None}, 200),
    "an unseen category (imputed)": ({"x1": 1, "x2": 1, "color": "purple"}, 200),
    "a word as a number": ({"x1": "thirty", "x2": 1, "color": "red"}, 422),
    "a boolean as a number": ({"x1": True, "x2": 1, "color": "red"}, 422),
    "a number as a category": ({"x1": 1, "x2": 1, "color": 7}, 422),
}


@pytest.mark.parametrize("case", list(TYPES), ids=list(TYPES))
def test_one_rule_for_value_types(server: LiveServer, case: str) -> None:
    row, status = TYPES[case]
    response = httpx.post(f"{server.url}/predict", json={"rows": [row]})
    assert response.status_code == status, response.text
    if status == 200:
        assert len(response.json()["predictions"]) == 1
    else:
        assert response.json()["error"]["column"] in ("x1", "color")


def _connect(server: LiveServer) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    return sock


def _closed_within(sock: socket.socket, seconds: float) -> bytes | None:
    """What the server sent before closing the connection, or None if it was still open after `seconds`."""
    sock.settimeout(0.2)
    deadline = time.monotonic() + seconds
    received = b""
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        except ConnectionResetError:
            return received
        if not chunk:
            return received
        received += chunk
    return None


def test_slow_headers_are_cut_off(server: LiveServer) -> None:
    """20 slowloris connections (partial headers, then nothing) and 5 silent ones are all closed after the 1 s
    header timeout, and the server still answers."""
    slow = [_connect(server) for _ in range(20)]
    for sock in slow:
        sock.sendall(b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
    silent = [_connect(server) for _ in range(5)]
    results = [_closed_within(sock, 8.0) for sock in slow + silent]
    for sock in slow + silent:
        sock.close()
    assert all(r is not None for r in results), "a connection was held long past the 1 s header timeout"
    assert httpx.post(f"{server.url}/predict", json={"rows": [GOOD]}).status_code == 200


def test_a_trickling_header_is_cut_off_too(server: LiveServer) -> None:
    """Sending a header byte every 0.3 s does not keep the connection: the timeout counts from the start."""
    sock = _connect(server)
    sock.sendall(b"GET /health HTTP/1.1\r\n")
    closed = False
    for _ in range(20):  # 6 s at most
        try:
            sock.sendall(b"X")
        except OSError:
            closed = True
            break
        if _closed_within(sock, 0.3) is not None:
            closed = True
            break
    sock.close()
    assert closed


@pytest.mark.slow  # waits out real timeouts
def test_slow_body_is_408(server: LiveServer) -> None:
    sock = _connect(server)
    head = b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n"
    sock.sendall(head + b'{"rows": [')
    answer = _closed_within(sock, 10.0)
    sock.close()
    assert answer is not None and answer.startswith(b"HTTP/1.1 408"), answer
    assert b"did not arrive within 1 s" in answer


def test_limits_are_checked() -> None:
    with pytest.raises(ValueError, match="header_timeout"):
        Limits(header_timeout=0)
    with pytest.raises(ValueError, match="shutdown_timeout"):
        Limits(shutdown_timeout=1e9)


@pytest.mark.slow  # waits out real timeouts
def test_disconnects_and_stop_are_logged_cleanly(run: Path) -> None:
    """A client that hangs up mid-body is logged as a disconnect, not a 500; SIGTERM with a client that sends its
    body slowly stops the server within the 2 s graceful timeout (plus start-up of the stop), without a traceback."""
    live = LiveServer(run, "--body-timeout", "60", "--shutdown-timeout", "2")
    try:
        head = b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n"
        quitter = _connect(live)
        quitter.sendall(head + b'{"rows": [')
        time.sleep(0.3)
        quitter.close()
        holder = _connect(live)
        holder.sendall(head + b'{"rows": [')
        time.sleep(0.5)
        stopped: dict[str, float] = {}

        def stop() -> None:
            started = time.monotonic()
            stopped["err"] = live.stop(timeout=30)  # type: ignore[assignment]
            stopped["seconds"] = time.monotonic() - started

        stopper = threading.Thread(target=stop)
        stopper.start()
        stopper.join(timeout=40)
        holder.close()
        err = str(stopped["err"])
        assert stopped["seconds"] < 20.0, stopped["seconds"]  # 2 s of grace, then stopped (not held by the client)
        assert "client disconnected" in err, err[-2000:]
        assert "POST /predict cancelled: the server stopped" in err, err[-2000:]
        assert "Traceback" not in err and " 500 " not in err, err[-2000:]
    finally:
        live.kill()
