"""kproto serve: a real uvicorn server on a free loopback port, called with httpx.

The fast tests serve a stub model (a NumPy function behind a real preprocessing state); the slow ones train a
tiny run and compare the server's answers with `kproto predict`.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from kproto.core import catalog
from kproto.data import DataInfo, Preprocessor
from kproto.metrics.calibration import Calibration, Decisions
from kproto.metrics.conformal import Conformal
from kproto.serve.app import create_app
from kproto.serve.batching import MicroBatcher
from kproto.serve.predictor import Predictor, text_tokens
from kproto.serve.rows import RowChecker
from kproto.serve.server import make_server

ROOT = Path(__file__).resolve().parent.parent

STATE = {
    "kind": "table",
    "task": "classification",
    "features": ["x1", "color"],
    "imputed": {},
    "target": {"name": "label", "classes": ["no", "yes"]},
    "columns": [
        {"name": "x1", "type": "numeric", "fill": 1.0, "mean": 0.0, "std": 2.0},
        {"name": "color", "type": "categorical", "fill": "red", "values": ["red", "blue"]},
    ],
}


def stub_model(x: np.ndarray) -> np.ndarray:
    """p(yes) = sigmoid(2·x1_scaled + blue)."""
    score = 2 * x[:, 0] + x[:, 2]
    p = 1 / (1 + np.exp(-score))
    return np.stack([1 - p, p], axis=1).astype(np.float32)


def stub_predictor(missing: str = "impute", conformal: bool = True, delay: float = 0.0, max_rows: int = 100):
    calls = []

    def model_call(x: np.ndarray) -> np.ndarray:
        calls.append(len(x))
        if delay:
            time.sleep(delay)
        return stub_model(x)

    state = json.loads(json.dumps(STATE))
    predictor = Predictor(
        name="stub",
        info=DataInfo(task="classification", kind="table", input_shape=(3,), num_classes=2, class_names=["no", "yes"]),
        preprocessor=Preprocessor.from_dict(state),
        model_call=model_call,
        decisions=Decisions(Calibration("temperature", temperature=1.5), threshold=0.4),
        checker=RowChecker.from_state(state, missing, max_rows=max_rows),
        conformal=Conformal.fit("classification", np.linspace(0, 0.6, 101)) if conformal else None,
        metrics={"test": {"accuracy": 0.9}, "versions": {"kproto": "test"}},
        runtime="stub",
    )
    return predictor, calls


def same(a: object, b: object, tolerance: float = 1e-6) -> bool:
    """Equal JSON-like values, numbers within `tolerance`."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k], tolerance) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y, tolerance) for x, y in zip(a, b))
    if isinstance(a, float) or isinstance(b, float):
        return abs(float(a) - float(b)) <= tolerance * max(1.0, abs(float(b)))
    return a == b


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running(app, port: int | None = None) -> Iterator[str]:
    """Serve `app` on a free loopback port in a thread; yields the base URL."""
    port = port or free_port()
    server = make_server(app, "127.0.0.1", port)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[str, Predictor, list[int], object]]:
    predictor, calls = stub_predictor()
    app = create_app(predictor, max_batch=64, max_delay_ms=20)
    with running(app) as url:
        yield url, predictor, calls, app


ROWS = [{"x1": 1.0, "color": "blue"}, {"x1": -3.0, "color": "red"}, {"x1": None, "color": None}]


def test_health_and_metadata(served):
    url, _, _, _ = served
    assert httpx.get(f"{url}/health").json()["status"] == "ok"
    meta = httpx.get(f"{url}/metadata").json()
    assert meta["name"] == "stub" and meta["outputs"]["labels"] == ["no", "yes"]
    assert meta["columns"] == [
        {"name": "x1", "type": "numeric"},
        {"name": "color", "type": "categorical", "categories": ["red", "blue"]},
    ]
    assert meta["outputs"]["threshold"] == 0.4 and meta["outputs"]["calibration"]["temperature"] == 1.5
    assert meta["metrics"]["test"]["accuracy"] == 0.9 and meta["versions"] == {"kproto": "test"}
    assert httpx.get(f"{url}/docs").status_code == 200


def test_predict_matches_direct_answers(served):
    url, predictor, _, _ = served
    response = httpx.post(f"{url}/predict", json={"rows": ROWS})
    assert response.status_code == 200
    predictions = response.json()["predictions"]
    expected = predictor.records(predictor.checker.frame(ROWS))
    assert same(predictions, expected)
    first = predictions[0]
    assert first["prediction"] == "yes" and set(first["probabilities"]) == {"no", "yes"}
    assert sum(first["probabilities"].values()) == pytest.approx(1.0)
    # calibrated (T = 1.5) probabilities, thresholded at 0.4
    raw = stub_model(np.array([[0.5, 0.0, 1.0]]))
    tempered = np.exp(np.log(raw) / 1.5)
    assert first["probabilities"]["yes"] == pytest.approx(float(tempered[0, 1] / tempered.sum()), rel=1e-5)
    # the null row is imputed (x1 = 1.0, color = red) as in training, and its warnings say so
    filled = predictor.records(predictor.checker.frame([{"x1": 1.0, "color": "red"}]))[0]
    assert filled["warnings"] == [] and predictions[0]["warnings"] == []
    assert same(
        {k: v for k, v in predictions[2].items() if k != "warnings"},
        {k: v for k, v in filled.items() if k != "warnings"},
    )
    assert {(w["code"], w["column"]) for w in predictions[2]["warnings"]} == {("imputed", "x1"), ("imputed", "color")}


def test_unseen_categories_are_warned_about_per_row(served):
    url, _, _, _ = served
    rows = [{"x1": 0.5, "color": "purple"}, {"x1": 0.5, "color": "red"}]
    predictions = httpx.post(f"{url}/predict", json={"rows": rows}).json()["predictions"]
    assert [w["code"] for w in predictions[0]["warnings"]] == ["unseen_category"]
    assert "'purple'" in predictions[0]["warnings"][0]["message"] and predictions[1]["warnings"] == []


def test_instances_positional_rows_and_csv(served):
    url, _, _, _ = served
    by_rows = httpx.post(f"{url}/predict", json={"rows": ROWS[:2]}).json()
    by_instances = httpx.post(f"{url}/predict", json={"instances": [[1.0, "blue"], [-3.0, "red"]]}).json()
    assert by_instances == by_rows
    csv = "x1,color\n1.0,blue\n-3,red\n"
    by_csv = httpx.post(f"{url}/predict", content=csv, headers={"content-type": "text/csv"}).json()
    assert same(by_csv, by_rows)


def test_coverage_adds_prediction_sets(served):
    url, predictor, _, _ = served
    answer = httpx.post(f"{url}/predict?coverage=0.9", json={"rows": ROWS}).json()["predictions"]
    for record in answer:
        assert set(record["prediction_set"]) <= {"no", "yes"}
    probabilities = np.array([[r["probabilities"]["no"], r["probabilities"]["yes"]] for r in answer])
    members = predictor.conformal.sets(probabilities, 0.9)
    assert [len(r["prediction_set"]) for r in answer] == members.sum(axis=1).tolist()


def _error(response: httpx.Response) -> dict:
    assert response.headers["content-type"].startswith("application/json")
    return response.json()["error"]


@pytest.mark.parametrize(
    "body, headers, query, status, row, column",
    [
        (b"", {}, "", 400, None, None),
        (b"{not json", {}, "", 400, None, None),
        (json.dumps([1, 2]).encode(), {}, "", 422, None, None),
        (json.dumps({"rows": []}).encode(), {}, "", 400, None, None),
        (json.dumps({"rows": "x"}).encode(), {}, "", 422, None, None),
        (json.dumps({"rows": [ROWS[0], {"x1": 1.0}]}).encode(), {}, "", 422, 1, "color"),
        (json.dumps({"rows": [{"x1": 1.0, "color": "red", "age": 3}]}).encode(), {}, "", 422, 0, "age"),
        (json.dumps({"rows": [ROWS[0], ROWS[1], {"x1": "tall", "color": "red"}]}).encode(), {}, "", 422, 2, "x1"),
        (json.dumps({"rows": [{"x1": True, "color": "red"}]}).encode(), {}, "", 422, 0, "x1"),
        (json.dumps({"rows": [{"x1": 1.0, "color": ["red"]}]}).encode(), {}, "", 422, 0, "color"),
        (json.dumps({"rows": [[1.0]]}).encode(), {}, "", 422, 0, None),
        (json.dumps({"rows": [ROWS[0]] * 101}).encode(), {}, "", 413, None, None),
        (b"x1,color\n1,red\n", {"content-type": "application/xml"}, "", 415, None, None),
        (json.dumps({"rows": ROWS}).encode(), {}, "?coverage=1.5", 422, None, "coverage"),
        (json.dumps({"rows": ROWS}).encode(), {}, "?coverage=abc", 422, None, "coverage"),
        (b"x1,colour\n1,red\n", {"content-type": "text/csv"}, "", 422, 0, "colour"),
        (json.dumps({"samples": 3}).encode(), {}, "", 422, None, "samples"),
    ],
)
def test_bad_requests_name_row_and_column(served, body, headers, query, status, row, column):
    url, _, _, _ = served
    response = httpx.post(
        f"{url}/predict{query}", content=body, headers={"content-type": "application/json", **headers}
    )
    assert response.status_code == status, response.text
    error = _error(response)
    assert error["status"] == status and error["message"]
    assert error.get("row") == row
    assert error.get("column") == column


def test_oversized_body_is_413():
    predictor, _ = stub_predictor()
    with running(create_app(predictor, max_body_bytes=1000)) as url:
        response = httpx.post(f"{url}/predict", json={"rows": [ROWS[0]] * 60})
        assert response.status_code == 413 and "limit" in _error(response)["message"]
        assert httpx.post(f"{url}/predict", json={"rows": ROWS[:1]}).status_code == 200


def test_unseen_category_follows_the_missing_rule():
    strict, _ = stub_predictor(missing="error", conformal=False)
    with running(create_app(strict)) as url:
        response = httpx.post(f"{url}/predict", json={"rows": [{"x1": 1.0, "color": "green"}]})
        assert response.status_code == 422
        error = _error(response)
        assert (error["row"], error["column"], error["expected"]) == (0, "color", ["red", "blue"])
        no_conformal = httpx.post(f"{url}/predict?coverage=0.9", json={"rows": ROWS[:1]})
        assert no_conformal.status_code == 422 and _error(no_conformal)["column"] == "coverage"
    lenient, _ = stub_predictor(missing="impute")
    with running(create_app(lenient)) as url:
        assert httpx.post(f"{url}/predict", json={"rows": [{"x1": 1.0, "color": "green"}]}).status_code == 200


def test_concurrent_requests_are_batched():
    predictor, calls = stub_predictor(delay=0.02)
    app = create_app(predictor, max_batch=64, max_delay_ms=10)
    clients, per_client = 16, 4

    async def client(url: str, index: int) -> list[dict]:
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            answers = []
            for k in range(per_client):
                rows = [{"x1": float(index + k), "color": "red"}, {"x1": -float(index), "color": "blue"}]
                response = await http.post("/predict", json={"rows": rows})
                assert response.status_code == 200
                answers.append((rows, response.json()["predictions"]))
            return answers

    async def main(url: str) -> list:
        return await asyncio.gather(*(client(url, i) for i in range(clients)))

    with running(app) as url:
        results = asyncio.run(main(url))
    served_calls = list(calls)
    for answers in results:
        for rows, predictions in answers:
            assert same(predictions, predictor.records(predictor.checker.frame(rows)))
    requests = clients * per_client
    assert sum(served_calls) == 2 * requests and len(served_calls) < requests / 2  # many requests per model call
    assert max(served_calls) <= 64
    assert app.state.batcher.largest <= 64


def test_batcher_respects_max_batch_and_delay():
    seen: list[list[int]] = []

    def run(items: list[int]) -> list[int]:
        seen.append(list(items))
        return [i * 10 for i in items]

    async def main() -> list[int]:
        batcher = MicroBatcher(run, max_batch=5, max_delay_ms=30)
        await batcher.start()
        results = await asyncio.gather(*(batcher.submit(i, 2) for i in range(7)), batcher.submit(99, 9))
        await batcher.stop()
        return results

    results = asyncio.run(main())
    assert results == [0, 10, 20, 30, 40, 50, 60, 990]
    assert all(sum(2 if i != 99 else 9 for i in batch) <= 5 or batch == [99] for batch in seen)
    assert sorted(i for batch in seen for i in batch) == [0, 1, 2, 3, 4, 5, 6, 99]


def test_a_failing_batch_fails_only_its_bad_request():
    predictor, _ = stub_predictor()
    original = predictor.inputs

    def picky(frame: pd.DataFrame) -> np.ndarray:
        if (frame["x1"] == 13.0).any():
            raise ValueError("thirteen is refused")
        return original(frame)

    predictor.inputs = picky  # type: ignore[method-assign]
    app = create_app(predictor, max_delay_ms=50)

    async def main(url: str) -> list[int]:
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            bodies = [{"rows": [{"x1": float(v), "color": "red"}]} for v in (1, 13, 2, 3)]
            responses = await asyncio.gather(*(http.post("/predict", json=b) for b in bodies))
            return [r.status_code for r in responses]

    with running(app) as url:
        assert asyncio.run(main(url)) == [200, 422, 200, 200]


def test_text_tokens_match_keras_vectorization():
    keras = pytest.importorskip("keras")
    vocabulary = ["", "[UNK]", "the", "film", "was", "great", "not"]
    state = {"text": {"column": "review", "vocabulary": vocabulary, "sequence_length": 6}}  # a run before the rule
    texts = ["The film was GREAT!", "not... the film, was it?", "", "great great great great great great great"]
    frame = pd.DataFrame({"review": texts})
    layer = keras.layers.TextVectorization(vocabulary=vocabulary[2:], output_mode="int", output_sequence_length=6)
    expected = np.asarray(keras.ops.convert_to_numpy(layer(np.array(texts))))
    assert np.array_equal(text_tokens(state, frame), expected)


@pytest.mark.parametrize("rule", [*catalog.TEXT_STANDARDIZE, None])
def test_serve_tokens_are_the_training_tokens(rule: str | None) -> None:
    """The ids training and `kproto evaluate` make (Preprocessor; Keras's layer for the old rule) are the ids serve
    makes without Keras, for every rule and for runs whose preprocess.json names none."""
    from test_tokenizer import TRICKY

    from kproto.recipe.schema import Data

    frame = pd.DataFrame({"review": TRICKY * 3, "label": ["a", "b", "c"] * len(TRICKY)})
    spec = Data(path="r.csv", target="label", text="review", text_standardize=rule or "strip_punctuation")
    fitted = Preprocessor.fit(frame, np.arange(len(frame)), spec, "classification", "text", ["review"])
    state = json.loads(json.dumps(fitted.state))  # as preprocess.json holds it
    if rule is None:
        del state["text"]["standardize"]
    training = Preprocessor.from_dict(state).features(frame)
    assert training.shape == (len(frame), state["text"]["sequence_length"]) and (training > 1).any()
    assert np.array_equal(text_tokens(state, frame), training)


SERVER_SCRIPT = """
import sys, time, json
sys.path.insert(0, {tests!r})
from test_serve import stub_predictor
from kproto.serve.app import create_app
from kproto.serve.server import configure_logging, make_server
predictor, _ = stub_predictor(delay=1.0)
configure_logging()
server = make_server(create_app(predictor), "127.0.0.1", {port})
print("ready", flush=True)
server.run()
"""


def test_sigterm_finishes_in_flight_requests(tmp_path):
    port = free_port()
    script = tmp_path / "serve_stub.py"
    script.write_text(textwrap.dedent(SERVER_SCRIPT.format(tests=str(ROOT / "tests"), port=port)))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{url}/health", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError(process.stderr.read() if process.stderr else "no server") from None
                time.sleep(0.1)
        result: dict = {}

        def call() -> None:
            result["response"] = httpx.post(f"{url}/predict", json={"rows": ROWS}, timeout=30)

        caller = threading.Thread(target=call)
        caller.start()
        time.sleep(0.4)  # the request is in the model call (which takes 1 s)
        process.send_signal(signal.SIGTERM)
        caller.join(timeout=30)
        assert result["response"].status_code == 200
        assert len(result["response"].json()["predictions"]) == 3
        out, err = process.communicate(timeout=30)
        assert process.returncode in (0, -signal.SIGTERM, 143)  # uvicorn re-raises the signal once stopped
        lines = [line for line in err.splitlines() if "/predict" in line]
        assert len(lines) == 1 and "POST /predict 200 rows=3" in lines[0] and lines[0].endswith(" ms")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


# ------------------------------------------------------------------------------------------ a real Keras run
def test_serving_a_run_answers_what_predict_writes(tmp_path, tiny_run):
    from kproto.commands.predict import predict_run
    from kproto.serve.predictor import load_predictor

    run = tiny_run(tmp_path)
    rows = pd.read_csv(tmp_path / "tiny.csv").head(20)
    expected = predict_run(run, tmp_path / "tiny.csv").head(20)
    predictor = load_predictor(run)
    predictor.warm_up(8)
    body = [{k: (None if pd.isna(v) else v) for k, v in row.items() if k != "label"} for row in rows.to_dict("records")]
    with running(create_app(predictor)) as url:
        answer = httpx.post(f"{url}/predict", json={"rows": body}).json()["predictions"]
        meta = httpx.get(f"{url}/metadata").json()
    assert [a["prediction"] for a in answer] == expected["prediction"].tolist()
    for name in meta["outputs"]["labels"]:
        assert np.allclose([a["probabilities"][str(name)] for a in answer], expected[f"p_{name}"], atol=1e-6)
    assert [c["name"] for c in meta["columns"]] == ["x1", "x2", "color"]


ONNX_CHECK = """
import sys
from kproto.serve.predictor import load_predictor
predictor = load_predictor(sys.argv[1], "onnx")
frame = predictor.checker.frame([{"x1": 0.5, "x2": None, "color": "red"}])
print(predictor.records(frame)[0]["prediction"])
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "jax", "torch"))
print("frameworks:", loaded[:5])
"""


@pytest.mark.slow
def test_onnx_runtime_imports_neither_tensorflow_nor_keras(tmp_path, runner, tiny_run):
    pytest.importorskip("onnxruntime")
    from kproto.cli import cli
    from kproto.commands.predict import predict_run

    run = tiny_run(tmp_path)
    exported = runner.invoke(cli, ["export", str(run), "--format", "onnx"])
    if exported.exit_code != 0:
        pytest.skip(f"the ONNX export is not available here: {exported.output[-200:]}")
    pd.DataFrame([{"x1": 0.5, "x2": None, "color": "red"}]).to_csv(tmp_path / "one.csv", index=False)
    expected = predict_run(run, tmp_path / "one.csv")["prediction"][0]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", ONNX_CHECK, str(run)], capture_output=True, text=True, env=env, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    prediction, frameworks = out.stdout.strip().splitlines()[-2:]
    assert prediction == str(expected) and frameworks == "frameworks: []"


@pytest.mark.slow
def test_kproto_serve_command(tmp_path, tiny_run):
    """`kproto serve` itself: starts on the port it is given, says it is loopback only, stops on SIGTERM."""
    run = tiny_run(tmp_path)
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "kproto", "serve", str(run), "--port", str(port), "--max-delay-ms", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(process.stderr.read() if process.stderr else "no server")
            time.sleep(0.2)
        rows = [{"x1": 0.1, "x2": 1.0, "color": "blue"}]
        assert httpx.post(f"{url}/predict", json={"rows": rows}).status_code == 200
        assert httpx.post(f"{url}/predict", json={"rows": [{"x1": 0.1}]}).status_code == 422
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
        assert "127.0.0.1" in err and "loopback only" in err
        assert "POST /predict 200 rows=1" in err and "POST /predict 422" in err
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_gan_samples_endpoint():
    predictor, _ = stub_predictor()
    predictor.generate_rows = lambda count, seed: pd.DataFrame({"x1": np.arange(count, dtype=float), "label": "yes"})
    with running(create_app(predictor)) as url:
        answer = httpx.post(f"{url}/predict", json={"samples": 3, "seed": 1})
        assert answer.status_code == 200
        assert answer.json()["samples"] == [{"x1": float(i), "label": "yes"} for i in range(3)]
        for bad in ({"samples": 0}, {"samples": "many"}, {"samples": 2, "seed": "x"}):
            response = httpx.post(f"{url}/predict", json=bad)
            assert response.status_code == 422, bad


def test_image_rows_as_arrays_or_png():
    import base64
    import io

    from PIL import Image

    state = {"kind": "image", "features": [f"p{i}" for i in range(4)], "image": {"shape": [2, 2, 1]}}
    checker = RowChecker.from_state(state)
    pixels = np.array([[0, 64], [128, 255]], dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(buffer, format="PNG")
    png = base64.b64encode(buffer.getvalue()).decode()
    frame = checker.frame(
        [{"image": pixels.tolist()}, {"image": png}, {f"p{i}": v for i, v in enumerate([0, 64, 128, 255])}]
    )
    assert frame.to_numpy().tolist() == [[0.0, 64.0, 128.0, 255.0]] * 3
    with pytest.raises(Exception) as error:
        checker.frame([{"image": [[1, 2, 3]]}])
    assert getattr(error.value, "status", None) == 422 and error.value.column == "image"


RECOMMENDER_RECIPE = """\
name: {name}
data: {{path: ratings.csv, user: user, item: item, {target}features: [genres], split: {{by: time, column: time}}}}
model: {{type: recommender, architecture: two_tower, embedding_dim: 4, units: [8], ranking_loss: {loss}}}
train: {{epochs: 1, batch_size: 64}}
"""


@pytest.mark.parametrize(
    ("feedback", "target", "loss", "answer"),
    [("ratings", "target: rating, ", "bce", "prediction"), ("clicks", "", "bpr", "score")],
)
def test_recommender_runs_score_user_item_rows(tmp_path, feedback, target, loss, answer):
    from helpers import untrained_run

    from kproto.commands.predict import predict_run
    from kproto.serve.predictor import load_predictor

    rng = np.random.default_rng(0)
    items = rng.integers(0, 30, 400)
    pd.DataFrame(
        {
            "user": [f"u{u}" for u in rng.integers(0, 20, 400)],
            "item": items,
            "rating": rng.uniform(1, 5, 400).round(1),
            "time": np.arange(400),
            "genres": np.array(["Drama", "Comedy|Drama", "Action"])[items % 3],
        }
    ).to_csv(tmp_path / "ratings.csv", index=False)
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(RECOMMENDER_RECIPE.format(name=feedback, target=target, loss=loss))
    run = untrained_run(recipe, tmp_path / "runs")
    rows = [
        {"user": "u1", "item": 3, "genres": "Action"},
        {"user": "u2", "item": "7", "genres": None},
        {"user": "newcomer", "item": 999, "genres": "Drama"},
    ]
    pd.DataFrame(rows).to_csv(tmp_path / "pairs.csv", index=False)
    expected = predict_run(run, tmp_path / "pairs.csv")
    predictor = load_predictor(run)
    with running(create_app(predictor)) as url:
        meta = httpx.get(f"{url}/metadata").json()
        answers = httpx.post(f"{url}/predict", json={"rows": rows}).json()["predictions"]
        missing = httpx.post(f"{url}/predict", json={"rows": [{"user": "u1", "genres": None}]})
    assert [(c["name"], c["type"]) for c in meta["columns"]] == [("user", "id"), ("item", "id"), ("genres", "text")]
    assert np.allclose([a[answer] for a in answers], expected[answer], atol=1e-5)
    assert [a["known_user"] for a in answers] == [True, True, False] and answers[2]["known_item"] is False
    assert missing.status_code == 422 and missing.json()["error"]["column"] == "item"
