"""A real ``bentoml serve``: its embedded gRPC server answers exactly like its REST API."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from loan_default.data.generate import generate_applications
from loan_default.grpc.client import LoanScoringClient, RejectedRequestError
from loan_default.store import ModelMetadata, new_version, save_model
from tests.integration.serving import bentoml_serve, free_port
from tests.runners.grpc.grpc_backend import to_requests, train_tiny_model
from training.decision import DecisionRules, choose_policy

pytestmark = pytest.mark.slow

HTTP_PORT = free_port()
GRPC_PORT = free_port()
BASE = f"http://127.0.0.1:{HTTP_PORT}"


@pytest.fixture(scope="module")
def model_tag() -> str:
    """A tiny LightGBM saved in this session's Bento store."""
    model = train_tiny_model()
    rows = generate_applications(2000, seed=1)
    policy = choose_policy(model.predict_proba(rows), rows["default"].to_numpy(),
                           DecisionRules(), measured_on="fixture rows")  # fmt: skip
    metadata = ModelMetadata(
        decision_policy=policy,
        version=new_version(),
        algorithm=model.algorithm,
        created_at=datetime.now(UTC),
        feature_names=model.feature_names,
        data_hash="generated-seed-0",
        data_rows=3_000,
        seed=0,
    )
    save_model(model, metadata)
    return metadata.tag


@pytest.fixture(scope="module")
def served(model_tag: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """``bentoml serve service:LoanDefaultService`` with its gRPC port; stopped afterwards."""
    log = tmp_path_factory.mktemp("serve") / "bentoml.log"
    env = {"LOAN_GRPC_ENABLED": "true"}
    with bentoml_serve(model_tag, http_port=HTTP_PORT, grpc_port=GRPC_PORT, log=log, env=env):
        yield


@pytest.fixture(scope="module")
def client(served: None) -> Iterator[LoanScoringClient]:
    with LoanScoringClient(f"127.0.0.1:{GRPC_PORT}", timeout=60) as connected:
        connected.wait_ready(timeout=30)
        yield connected


@pytest.fixture(scope="module")
def applications() -> list[dict[str, Any]]:
    return to_requests(generate_applications(200, seed=21))


def _rest(path: str, body: Any) -> httpx.Response:
    return httpx.post(f"{BASE}/v1/{path}", json=body, timeout=60)


def test_grpc_health_and_metadata_match_rest(client):
    assert client.health() == "SERVING"
    rest = httpx.get(f"{BASE}/v1/metadata", timeout=30).json()
    grpc_metadata = client.metadata()
    assert grpc_metadata["model_version"] == rest["model_version"]
    assert grpc_metadata["schema_fingerprint"] == rest["schema_fingerprint"]


def test_grpc_probability_equals_rest(client, applications):
    cuts = httpx.get(f"{BASE}/v1/metadata", timeout=30).json()["thresholds"]
    assert cuts["decision_rule"] == "target_approval_rate"  # the fixture's recorded policy
    for application in applications[:40]:
        rest = _rest("predict", application)
        assert rest.status_code == 200, rest.text
        over_grpc = client.predict(application)
        p = rest.json()["default_probability"]
        expected = ("decline" if p >= cuts["decline_at"] else
                    "refer" if p >= cuts["refer_at"] else "approve")  # fmt: skip
        assert rest.json()["decision"] == over_grpc["decision"] == expected
        assert over_grpc["default_probability"] == rest.json()["default_probability"]
        assert over_grpc["risk_category"] == rest.json()["risk_category"]
        assert over_grpc["model_version"] == rest.json()["model_version"]


def test_grpc_batch_equals_rest_batch(client, applications):
    rest = _rest("predict_batch", {"applications": applications})
    assert rest.status_code == 200, rest.text
    expected = [p["default_probability"] for p in rest.json()["predictions"]]
    over_grpc = client.predict_batch(applications)
    assert [p["default_probability"] for p in over_grpc] == expected
    decisions = [p["decision"] for p in rest.json()["predictions"]]
    assert [p["decision"] for p in over_grpc] == decisions
    assert set(decisions) == {"approve", "refer", "decline"}  # 200 applications: all three


def test_grpc_explanation_equals_rest(client, applications):
    rest = _rest("explain", applications[0])
    assert rest.status_code == 200, rest.text
    explanation = client.explain(applications[0])
    assert explanation["default_probability"] == rest.json()["default_probability"]
    assert [(r["feature"], r["value"], r["reason"]) for r in explanation["reasons"]] == [
        (r["feature"], r["value"], r["reason"]) for r in rest.json()["reasons"]
    ]
    assert [r["contribution"] for r in explanation["reasons"]] == pytest.approx(
        [r["contribution"] for r in rest.json()["reasons"]]
    )


def test_grpc_and_rest_reject_the_same_field(client, applications):
    bad = applications[0] | {"client_occupation": "astronaut"}
    rest = _rest("predict", bad)
    assert rest.status_code == 422
    assert [d["loc"][-1] for d in rest.json()["details"]] == ["client_occupation"]
    with pytest.raises(RejectedRequestError) as rejected:
        client.predict(bad)
    assert rejected.value.fields == ["application.client_occupation"]


def test_grpc_feedback_on_a_grpc_prediction(client, applications):
    prediction = client.predict(applications[1])
    receipt = client.feedback(prediction["prediction_id"], 0)
    assert receipt["prediction_id"] == prediction["prediction_id"]
    assert receipt["observed_default"] == 0


def test_grpc_batch_rejection_names_the_row_and_field(client, applications):
    bad = [dict(a) for a in applications[:4]]
    bad[2]["client_occupation"] = "astronaut"
    rest = _rest("predict_batch", {"applications": bad})
    assert rest.status_code == 422
    assert [d["loc"] for d in rest.json()["details"]] == [["applications", 2, "client_occupation"]]
    with pytest.raises(RejectedRequestError) as rejected:
        client.predict_batch(bad)
    assert "applications.2.client_occupation" in str(rejected.value)  # REST's words
    assert rejected.value.fields == ["applications[2].client_occupation"]


def test_grpc_calls_appear_in_the_service_metrics(client, applications):
    client.predict(applications[3])
    text = httpx.get(f"{BASE}/metrics", timeout=30).text
    handled = [
        line
        for line in text.splitlines()
        if line.startswith("grpc_server_handled_total{")
        and 'grpc_method="Predict"' in line
        and 'grpc_code="OK"' in line
    ]
    assert handled and sum(float(line.rsplit(" ", 1)[1]) for line in handled) >= 1
    assert "grpc_server_handling_seconds_bucket{" in text
