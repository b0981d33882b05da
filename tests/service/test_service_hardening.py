"""Hardening through the real app: an unreadable pause file, bounded request ids."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from loan_default import control
from loan_default.api import ErrorResponse
from tests.service.conftest import Served


@pytest.fixture
def corrupt_pause_file(served: Served) -> Iterator[None]:
    path = control.pause_path(served.home)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b'{"reason": "data-quality breach in win')  # truncated
    try:
        yield
    finally:
        path.unlink(missing_ok=True)


@pytest.mark.usefixtures("corrupt_pause_file")
@pytest.mark.parametrize("path", ["/v1/predict", "/v1/explain"])
def test_an_unreadable_pause_file_refuses_scoring_with_a_503(
    client: TestClient, served: Served, path: str
) -> None:
    before = len(served.logged())
    response = client.post(path, json=served.bodies(1)[0])
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"].isdigit()
    error = ErrorResponse.model_validate(response.json()).error
    assert "pause file" in error and "unreadable" in error and "data-quality" not in error
    assert len(served.logged()) == before


def test_scoring_resumes_once_the_pause_file_is_removed(
    client: TestClient, served: Served, corrupt_pause_file: None
) -> None:
    assert client.post("/v1/predict", json=served.bodies(1)[0]).status_code == 503
    control.resume(served.home)
    assert client.post("/v1/predict", json=served.bodies(1)[0]).status_code == 200


@pytest.mark.parametrize("rid", ["x" * 129, "x" * 60_000, "abc\u202edef", "a b", "id\x7f", "ünï"])
def test_a_bad_request_id_is_refused_before_anything_is_logged(
    client: TestClient, served: Served, rid: str
) -> None:
    before = len(served.logged())
    response = client.post(
        "/v1/predict_batch",
        json={"applications": served.bodies(3)},
        headers=[(b"X-Request-ID", rid.encode())],
    )
    assert response.status_code == 400, response.text
    assert "X-Request-ID" in response.json()["error"]
    assert len(served.logged()) == before


def test_a_good_request_id_is_echoed_and_logged(client: TestClient, served: Served) -> None:
    rid = "req-2026.11.02:abc/def+1=@x_" + "9" * 100
    response = client.post("/v1/predict", json=served.bodies(1)[0], headers={"X-Request-ID": rid})
    assert response.status_code == 200 and response.headers["x-request-id"] == rid
    pid = response.json()["prediction_id"]
    (logged,) = [r for r in served.logged() if r["prediction_id"] == pid]
    assert logged["request_id"] == rid
