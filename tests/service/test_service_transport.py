"""REST transport rules through the real app: JSON only, no repeated keys, 405 for a wrong
method on an API path. (A body shorter than its Content-Length: ``tests/integration``.)"""

from __future__ import annotations

import orjson
import pytest
from starlette.testclient import TestClient

from loan_default.api import ErrorResponse
from tests.service.conftest import Served

API = ["/v1/predict", "/v1/explain", "/v1/predict_batch", "/v1/feedback"]


@pytest.mark.parametrize("path", API)
@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_a_body_that_is_not_json_is_415(
    client: TestClient, served: Served, path: str, content_type: str | None
) -> None:
    before = len(served.logged())
    headers = {"Content-Type": content_type} if content_type else {}
    body = orjson.dumps(served.bodies(1)[0])
    response = client.post(path, content=body, headers=headers)
    assert response.status_code == 415, response.text
    error = ErrorResponse.model_validate(response.json())
    assert "application/json" in error.error
    assert len(served.logged()) == before


@pytest.mark.parametrize(
    "content_type", ["application/json; charset=utf-8", "Application/JSON", "application/x+json"]
)
def test_json_media_types_with_parameters_are_accepted(
    client: TestClient, served: Served, content_type: str
) -> None:
    body = orjson.dumps(served.bodies(1)[0])
    response = client.post("/v1/predict", content=body, headers={"Content-Type": content_type})
    assert response.status_code == 200, response.text


def _json(client: TestClient, path: str, body: bytes) -> dict:
    response = client.post(path, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    return response.json()


def test_a_repeated_key_is_refused_naming_it(client: TestClient, served: Served) -> None:
    valid = orjson.dumps(served.bodies(1)[0])
    twice = valid[:-1] + b',"client_income":1.0}'
    before = len(served.logged())
    body = _json(client, "/v1/predict", twice)
    assert "'client_income' appears twice" in body["error"]
    assert body["details"][0]["loc"] == ["client_income"]
    spaced = valid[:-1] + b', "client_income" :  1.0}'  # whitespace before the colon too
    assert "appears twice" in _json(client, "/v1/explain", spaced)["error"]
    rows = [orjson.dumps(r) for r in served.bodies(3)]
    rows[2] = rows[2][:-1] + b',"age_days":9000.0}'
    batch = b'{"applications":[' + b",".join(rows) + b"]}"
    assert "'age_days' appears twice" in _json(client, "/v1/predict_batch", batch)["error"]
    outer = b'{"applications":[' + rows[0] + b'],"applications":[' + rows[1] + b"]}"
    assert "'applications' appears twice" in _json(client, "/v1/predict_batch", outer)["error"]
    assert len(served.logged()) == before


def test_text_that_looks_like_a_key_is_not_a_repeat(client: TestClient, served: Served) -> None:
    body = served.bodies(1)[0] | {"application_id": 'A-"client_income": 1'}
    response = client.post("/v1/predict", content=orjson.dumps(body),
                           headers={"Content-Type": "application/json"})  # fmt: skip
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("GET", "/v1/predict", "POST"),
        ("PUT", "/v1/predict_batch", "POST"),
        ("DELETE", "/v1/feedback", "POST"),
        ("PATCH", "/v1/explain", "POST"),
        ("POST", "/v1/metadata", "GET"),
    ],
)
def test_a_wrong_method_on_an_api_path_is_405_with_allow(
    client: TestClient, method: str, path: str, allow: str
) -> None:
    response = client.request(method, path)
    assert response.status_code == 405, response.text
    assert response.headers["allow"] == allow
    assert f"{method} {path}" in response.json()["error"]


def test_unknown_paths_stay_404(client: TestClient) -> None:
    assert client.get("/v1/nothing").status_code == 404
    assert client.post("/v1/predict/extra", json={}).status_code == 404
