"""The server's OpenAPI document against the server itself: schemathesis generates requests from the document
(valid and invalid rows, JSON and CSV bodies, the coverage parameter) and sends them to a real `kproto serve` on
127.0.0.1, a bounded number per operation; every answer must be no 500, a documented status, a documented content
type and a body that fits its documented schema."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from helpers import LiveServer
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

pytestmark = pytest.mark.slow  # schemathesis against a live server (about 20 s)

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES = 40  # per operation and generation mode: the whole test stays well under a minute


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, tiny_run: Callable[[Path], Path]) -> Iterator[LiveServer]:
    server = LiveServer(tiny_run(tmp_path_factory.mktemp("documented")), "--max-delay-ms", "1")
    try:
        yield server
    finally:
        server.kill()


def _operations(url: str) -> list[object]:
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    return [result.ok() for result in schema.get_all_operations()]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
def test_the_server_keeps_its_documented_promises(live: LiveServer, mode: GenerationMode) -> None:
    operations = _operations(live.url)
    assert sorted(op.label for op in operations) == ["GET /health", "GET /metadata", "POST /forecast", "POST /predict"]
    calls = []
    for operation in operations:
        if mode is GenerationMode.NEGATIVE and operation.method.upper() == "GET":
            continue  # GET /health and /metadata take nothing that could be invalid

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
        def check(case: schemathesis.Case) -> None:
            calls.append(case.call_and_validate(checks=CHECKS, timeout=10).status_code)

        check()
    assert 0 < len(calls) <= 4 * EXAMPLES + 20  # bounded; shrinking adds a few only when a check fails
    if mode is GenerationMode.POSITIVE:
        assert 200 in calls
    else:
        assert any(400 <= status < 500 for status in calls)


def test_the_document_lists_request_and_error_bodies(live: LiveServer) -> None:
    document = httpx.get(f"{live.url}/openapi.json").json()
    predict = document["paths"]["/predict"]["post"]
    body = predict["requestBody"]["content"]
    assert set(body) == {"application/json", "text/csv"}
    row = body["application/json"]["schema"]["oneOf"][0]["properties"]["rows"]["items"]
    assert row["required"] == ["x1", "x2", "color"] and row["additionalProperties"] is False
    assert {"200", "400", "408", "413", "415", "422"} <= set(predict["responses"])
    error = predict["responses"]["422"]["content"]["application/json"]["schema"]["$ref"]
    assert error.endswith("/ErrorBody")
    assert [p["name"] for p in predict["parameters"]] == ["coverage"]


def test_a_slow_answer_never_fails_the_documented_checks(live: LiveServer, tmp_path: Path) -> None:
    """A CSV body of the run's own rows is answered 200 with one prediction per row (the positive path)."""
    rows = "x1,x2,color\n0.1,0.2,red\n,,\n-1,3,blue\n"
    answer = httpx.post(f"{live.url}/predict", content=rows, headers={"content-type": "text/csv"})
    assert answer.status_code == 200 and len(answer.json()["predictions"]) == 3


def test_the_document_lists_each_answers_warnings(live: LiveServer) -> None:
    schemas = httpx.get(f"{live.url}/openapi.json").json()["components"]["schemas"]
    warning = schemas["InputWarning"]
    assert warning["properties"]["code"]["enum"] == ["unseen_category", "imputed"]
    assert "warnings" in schemas["Answer"]["properties"]
    answer = httpx.post(f"{live.url}/predict", json={"rows": [{"x1": None, "x2": 0.1, "color": "purple"}]}).json()
    assert {w["code"] for w in answer["predictions"][0]["warnings"]} == {"imputed", "unseen_category"}
