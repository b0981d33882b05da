"""Every endpoint of the service over HTTP (BentoML's ASGI app, the fixture model)."""

from __future__ import annotations

import uuid

import numpy as np
import pytest
from starlette.testclient import TestClient

from loan_default import control
from loan_default.api import (
    BatchPrediction,
    ErrorResponse,
    Explanation,
    FeedbackReceipt,
    ModelInfo,
    Prediction,
    Reason,
)
from loan_default.attribution import fold_contributions
from loan_default.model import RiskThresholds
from loan_default.reasons import principal_reasons, reason_codes
from loan_default.schema import INPUT_FIELDS, schema_fingerprint
from runners.settings import ServingSettings
from tests.service.conftest import Served


def test_predict_matches_the_model_on_a_dataframe(client: TestClient, served: Served) -> None:
    bodies = served.bodies(5)
    expected = served.model.predict_proba(served.frame.iloc[:5])
    for body, p in zip(bodies, expected, strict=True):
        response = client.post("/v1/predict", json=body, headers={"X-Request-ID": "req-1"})
        assert response.status_code == 200, response.text
        prediction = Prediction.model_validate(response.json())
        assert prediction.default_probability == pytest.approx(p, abs=1e-12)
        assert prediction.risk_category == RiskThresholds().category(p)
        assert prediction.model_version == "vservice-test"
        assert response.headers["x-request-id"] == "req-1"


def test_batch_is_in_order_and_equal_to_single_predictions(
    client: TestClient, served: Served
) -> None:
    bodies = served.bodies(30, start=10)
    response = client.post("/v1/predict_batch", json={"applications": bodies})
    assert response.status_code == 200, response.text
    batch = BatchPrediction.model_validate(response.json()).predictions
    singles = [client.post("/v1/predict", json=b).json()["default_probability"] for b in bodies]
    expected = served.model.predict_proba(served.frame.iloc[10:40])
    np.testing.assert_allclose([p.default_probability for p in batch], singles, atol=1e-12)
    np.testing.assert_allclose(singles, expected, atol=1e-12)
    assert len({p.prediction_id for p in batch}) == 30


def test_every_answer_is_in_the_traffic_log(client: TestClient, served: Served) -> None:
    body = served.bodies(1, start=50)[0]
    answer = client.post("/v1/predict", json=body, headers={"X-Request-ID": "trace-42"}).json()
    (record,) = [r for r in served.logged() if r["prediction_id"] == answer["prediction_id"]]
    assert record["request_id"] == "trace-42"
    assert record["endpoint"] == "predict"
    assert record["default_probability"] == answer["default_probability"]
    assert record["risk_category"] == answer["risk_category"]
    assert record["model_version"] == answer["model_version"]
    assert {k: record["application"][k] for k in body if k != "application_date"} == {
        k: v for k, v in body.items() if k != "application_date"
    }


def test_explain_gives_the_fields_that_raised_the_risk_most(
    client: TestClient, served: Served
) -> None:
    body = served.bodies(1, start=60)[0]
    response = client.post("/v1/explain", json=body)
    assert response.status_code == 200, response.text
    explanation = Explanation.model_validate(response.json())
    model = served.model
    X = model.features.transform_records([body])
    folded = fold_contributions(model.contributions_matrix(X), X, model.feature_names)
    codes = reason_codes(ServingSettings().reasons_path)
    assert explanation.reasons, "the fixture row has adverse contributions"
    assert explanation.reasons == [
        Reason.model_validate(r) for r in principal_reasons(folded, 0, body, codes)
    ]
    assert explanation.base_value == pytest.approx(folded.base[0])
    for reason in explanation.reasons:
        k = folded.fields.index(reason.feature)
        assert reason.contribution == pytest.approx(folded.values[0, k]) and reason.contribution > 0
        if reason.feature in body:
            assert reason.value == body[reason.feature]
            assert reason.reason == codes.codes[reason.feature].reason
    assert explanation.default_probability == pytest.approx(model.predict_proba_records([body])[0])


def test_metadata_describes_model_and_schema(client: TestClient, served: Served) -> None:
    response = client.get("/v1/metadata")
    assert response.status_code == 200
    info = ModelInfo.model_validate(response.json())
    assert info.model_version == "vservice-test"
    assert info.schema_fingerprint == schema_fingerprint()
    assert info.thresholds.medium == 0.3 and info.thresholds.high == 0.7
    assert [f.name for f in info.input_schema] == [f.name for f in INPUT_FIELDS]
    assert info.features == served.model.feature_names
    assert info.data_rows == 3_000


def test_feedback_is_recorded_for_a_known_prediction(client: TestClient, served: Served) -> None:
    answer = client.post("/v1/predict", json=served.bodies(1, start=70)[0]).json()
    response = client.post(
        "/v1/feedback", json={"prediction_id": answer["prediction_id"], "observed_default": 1}
    )
    assert response.status_code == 200, response.text
    receipt = FeedbackReceipt.model_validate(response.json())
    assert str(receipt.prediction_id) == answer["prediction_id"]
    logged = [r for r in served.logged("feedback") if r["prediction_id"] == answer["prediction_id"]]
    assert [r["observed_default"] for r in logged] == [1]


def test_feedback_for_an_unknown_prediction_is_404(client: TestClient) -> None:
    unknown = str(uuid.uuid4())
    response = client.post("/v1/feedback", json={"prediction_id": unknown, "observed_default": 0})
    assert response.status_code == 404
    assert unknown in ErrorResponse.model_validate(response.json()).error


def test_pause_answers_503_with_the_reason_until_resumed(
    client: TestClient, served: Served
) -> None:
    body = served.bodies(1)[0]
    control.pause(served.home, "data quality breach: score_source_1 missing", by="monitoring")
    try:
        for path, payload in (
            ("/v1/predict", body),
            ("/v1/predict_batch", {"applications": [body]}),
            ("/v1/explain", body),
        ):
            response = client.post(path, json=payload)
            assert response.status_code == 503, path
            assert "score_source_1 missing" in response.json()["error"]
        assert client.get("/v1/metadata").status_code == 200
    finally:
        control.resume(served.home)
    assert client.post("/v1/predict", json=body).status_code == 200


def test_connections_are_recycled_in_proportion_to_applications(
    client: TestClient, served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    import service
    from runners.routing import ConnectionRecycler

    monkeypatch.setattr(service._svc(), "recycler", ConnectionRecycler(40, seed=3))
    batch = client.post("/v1/predict_batch", json={"applications": served.bodies(40)})
    assert batch.headers["connection"] == "close"  # 40 applications of 40 per connection
    single = [client.post("/v1/predict", json=served.bodies(1)[0]) for _ in range(200)]
    closed = sum(r.headers.get("connection") == "close" for r in single)
    assert 1 <= closed <= 15  # ~1 in 40 (seeded)


def test_health_endpoints(client: TestClient) -> None:
    assert client.get("/livez").status_code == 200
    ready = client.get("/readyz")
    assert ready.status_code == 200
    # These tests serve in development without authentication: /readyz says so.
    assert "authentication is OFF" in ready.text


def test_metrics_count_every_api_call_by_status(client: TestClient, served: Served) -> None:
    def count(status: int) -> float:
        for line in client.get("/metrics").text.splitlines():
            if line.startswith(f'loan_requests_total{{endpoint="predict",status="{status}"}}'):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    ok, bad = count(200), count(422)
    assert client.post("/v1/predict", json=served.bodies(1)[0]).status_code == 200
    assert client.post("/v1/predict", json={"age_days": "old"}).status_code == 422
    assert (count(200), count(422)) == (ok + 1, bad + 1)
    text = client.get("/metrics").text
    for name in ("loan_predictions_total", "loan_prediction_latency_seconds", "loan_model_info"):
        assert name in text
    assert "bentoml_service_request_total" not in text  # BentoML's own HTTP metrics are off


def test_unknown_path_uses_the_error_shape(client: TestClient) -> None:
    response = client.get("/v1/predictions")
    assert response.status_code == 404
    ErrorResponse.model_validate(response.json())


def test_openapi_documents_every_field(client: TestClient) -> None:
    spec = client.get("/docs.json").json()
    for path in ("predict", "predict_batch", "explain", "metadata", "feedback"):
        assert f"/v1/{path}" in spec["paths"]
    body = spec["paths"]["/v1/predict"]["post"]["requestBody"]["content"]["application/json"]
    properties = body["schema"]["properties"]
    assert set(properties) == {f.name for f in INPUT_FIELDS}
    assert all(p.get("description") for p in properties.values())
    assert "Unit: currency" in properties["client_income"]["description"]
    assert "Prediction" in spec["components"]["schemas"]
    batch = spec["paths"]["/v1/predict_batch"]["post"]["requestBody"]["content"]
    items = batch["application/json"]["schema"]["properties"]["applications"]["items"]
    assert set(items["properties"]) == set(properties)
