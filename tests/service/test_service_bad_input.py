"""Every class of bad input is a 4xx in one error shape naming the field; nothing is scored."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from loan_default.api import ErrorResponse
from tests.service.conftest import MAX_BATCH_ROWS, Served


def _valid(served: Served) -> dict[str, Any]:
    return served.bodies(1, start=100)[0]


def _with(served: Served, **changes: Any) -> dict[str, Any]:
    return _valid(served) | changes


CASES: dict[str, tuple[Any, int, list[Any]]] = {
    # name: (body or callable(served) -> body, status, expected loc)
    "unknown field": (lambda s: _with(s, salary=1000.0), 422, ["salary"]),
    "string for a number": (lambda s: _with(s, client_income="6750"), 422, ["client_income"]),
    "number for a boolean": (lambda s: _with(s, car_owned=1), 422, ["car_owned"]),
    "float for an integer": (lambda s: _with(s, child_count=1.5), 422, ["child_count"]),
    "out of range": (lambda s: _with(s, score_source_1=1.5), 422, ["score_source_1"]),
    "negative money": (lambda s: _with(s, credit_amount=-1.0), 422, ["credit_amount"]),
    "unknown category": (lambda s: _with(s, client_gender="x"), 422, ["client_gender"]),
    "missing required": (
        lambda s: {k: v for k, v in _valid(s).items() if k != "age_days"},
        422,
        ["age_days"],
    ),
    "not an object": (lambda s: [1, 2], 422, []),
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("path", ["/v1/predict", "/v1/explain"])
def test_bad_application_is_rejected_naming_the_field(
    client: TestClient, served: Served, case: str, path: str
) -> None:
    make, status, loc = CASES[case]
    before = len(served.logged())
    response = client.post(path, json=make(served))
    assert response.status_code == status, response.text
    error = ErrorResponse.model_validate(response.json())
    assert [d.loc for d in error.details][:1] == [loc]
    assert len(served.logged()) == before


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_numbers_are_rejected(client: TestClient, served: Served, literal: str) -> None:
    import json

    text = json.dumps(_valid(served))
    text = text.replace(f'"client_income": {_valid(served)["client_income"]}', "")
    body = text[:-1] + f', "client_income": {literal}}}'
    response = client.post(
        "/v1/predict", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code in (400, 422), response.text
    details = ErrorResponse.model_validate(response.json()).details
    assert response.status_code == 400 or details[0].loc == ["client_income"]


def test_malformed_json_is_400(client: TestClient) -> None:
    response = client.post(
        "/v1/predict", content=b'{"client_income": ', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert ErrorResponse.model_validate(response.json()).details[0].type == "json_invalid"


def test_oversized_body_is_413(client: TestClient, served: Served) -> None:
    body = _with(served, application_id="A" * 10)
    padding = " " * (70 * 1024)
    import json

    response = client.post(
        "/v1/predict",
        content=json.dumps(body) + padding,
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 413
    assert ErrorResponse.model_validate(response.json()).details[0].type == "body_too_large"


def test_batch_error_names_the_row_and_field(client: TestClient, served: Served) -> None:
    bodies = served.bodies(5)
    bodies[3] = bodies[3] | {"age_days": 10.0}
    before = len(served.logged())
    response = client.post("/v1/predict_batch", json={"applications": bodies})
    assert response.status_code == 422
    error = ErrorResponse.model_validate(response.json())
    assert error.details[0].loc == ["applications", 3, "age_days"]
    assert "applications.3.age_days" in error.error
    assert len(served.logged()) == before


def test_empty_batch_and_missing_list_are_rejected(client: TestClient) -> None:
    bodies: list[dict[str, Any]] = [{"applications": []}, {}]
    for body in bodies:
        response = client.post("/v1/predict_batch", json=body)
        assert response.status_code == 422
        assert ErrorResponse.model_validate(response.json()).details[0].loc == ["applications"]


def test_batch_over_the_limit_is_rejected(client: TestClient, served: Served) -> None:
    bodies = served.bodies(MAX_BATCH_ROWS + 1)
    before = len(served.logged())
    response = client.post("/v1/predict_batch", json={"applications": bodies})
    assert response.status_code == 422
    assert ErrorResponse.model_validate(response.json()).details[0].loc == ["applications"]
    assert len(served.logged()) == before


def test_the_batch_limit_is_documented_and_no_deployment_exceeds_it() -> None:
    from pydantic import ValidationError

    from loan_default.api import MAX_BATCH_ROWS, BatchRequest
    from runners.settings import ServingSettings

    schema = BatchRequest.model_json_schema()["properties"]["applications"]
    assert (schema["minItems"], schema["maxItems"]) == (1, MAX_BATCH_ROWS) == (1, 10_000)
    with pytest.raises(ValidationError, match="max_batch_rows"):
        ServingSettings(max_batch_rows=MAX_BATCH_ROWS + 1)


@pytest.mark.parametrize(
    "body, loc",
    [
        ({"prediction_id": "not-a-uuid", "observed_default": 1}, ["prediction_id"]),
        ({"prediction_id": "7e0e6d2c-2f7b-4c55-9b0a-3c1f7c1e0a11", "observed_default": 2}, None),
        ({"prediction_id": "7e0e6d2c-2f7b-4c55-9b0a-3c1f7c1e0a11", "observed_default": "1"}, None),
        ({"prediction_id": "7e0e6d2c-2f7b-4c55-9b0a-3c1f7c1e0a11"}, ["observed_default"]),
    ],
)
def test_bad_feedback_is_rejected(client: TestClient, body: dict[str, Any], loc: Any) -> None:
    response = client.post("/v1/feedback", json=body)
    assert response.status_code == 422, response.text
    details = ErrorResponse.model_validate(response.json()).details
    assert details[0].loc == (loc or ["observed_default"])
