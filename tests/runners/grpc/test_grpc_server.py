"""The gRPC API against a real grpc.aio server on 127.0.0.1 and a real trained model."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from typing import Any

import grpc
import numpy as np
import pytest
from grpc_status import rpc_status

from loan_default.api import CallContext
from loan_default.data.generate import generate_applications
from loan_default.errors import ConfigError, InputError, LoanError, NotFoundError, UnavailableError
from loan_default.grpc import loan_scoring_pb2 as pb
from loan_default.grpc import loan_scoring_pb2_grpc as pb_grpc
from loan_default.grpc.client import (
    AsyncLoanScoringClient,
    LoanScoringClient,
    RejectedRequestError,
    violations_from_call,
)
from loan_default.schema import (
    FIELDS_BY_NAME,
    REQUIRED_FIELDS,
    application_model,
    records_to_frame,
)
from loan_default.traffic import Checkpoint, read_new
from runners.grpc import convert
from runners.grpc.server import GrpcServer, start_server
from tests.runners.grpc.grpc_backend import (
    FaultInjectingBackend,
    Loop,
    serving_backend,
    to_requests,
)
from tests.runners.tiny_model import build

PAUSED = UnavailableError("scoring is paused by an operator: model review")


@pytest.fixture(scope="module")
def loop() -> Iterator[Loop]:
    running = Loop()
    yield running
    running.close()


@pytest.fixture(scope="module")
def tag() -> str:
    return build(version="vgrpc-test")[0]


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory, tag: str) -> FaultInjectingBackend:
    return serving_backend(tmp_path_factory.mktemp("home"), tag)


@pytest.fixture(autouse=True)
def _healthy_backend(backend: FaultInjectingBackend) -> None:
    backend.fail_with = None


@pytest.fixture(scope="module")
def server(loop: Loop, backend: FaultInjectingBackend) -> Iterator[GrpcServer]:
    started = loop.run(start_server(backend, host="127.0.0.1", port=0))
    yield started
    loop.run(started.stop(grace=1))


@pytest.fixture(scope="module")
def client(server: GrpcServer) -> Iterator[LoanScoringClient]:
    with LoanScoringClient(server.target, timeout=60) as connected:
        connected.wait_ready()
        yield connected


@pytest.fixture(scope="module")
def stub(server: GrpcServer) -> Iterator[pb_grpc.LoanScoringStub]:
    with grpc.insecure_channel(server.target) as channel:
        yield pb_grpc.LoanScoringStub(channel)


@pytest.fixture(scope="module")
def applications() -> list[dict[str, Any]]:
    return to_requests(generate_applications(50, seed=11))


def _direct(backend: FaultInjectingBackend, application: dict[str, Any]) -> float:
    """What the model itself says, without gRPC."""
    record = application_model().model_validate(application).model_dump()
    return float(backend.scorer.model.predict_proba_records([record])[0])


def _logged(backend: FaultInjectingBackend) -> dict[str, dict[str, Any]]:
    """The traffic log's prediction records by prediction id."""
    records, _ = read_new(backend.scorer.settings.traffic_path, "predictions", Checkpoint())
    return {r["prediction_id"]: r for r in records}


# -- the RPCs ------------------------------------------------------------------------------
def test_predict_returns_the_models_probability(client, backend, applications):
    for application in applications[:5]:
        prediction = client.predict(application)
        assert prediction["default_probability"] == _direct(backend, application)
        assert prediction["risk_category"] == backend.scorer.thresholds.category(
            prediction["default_probability"]
        )
        assert prediction["decision"] == backend.scorer.active.policy.decision(
            prediction["default_probability"]
        )
        assert _logged(backend)[prediction["prediction_id"]]["decision"] == prediction["decision"]
        assert prediction["model_name"] == "loan_default"
        assert prediction["model_version"] == "vgrpc-test"
        assert _logged(backend)[prediction["prediction_id"]]["endpoint"] == "predict"
        assert prediction["timestamp"].startswith("20")


def test_unset_optional_fields_are_omitted_not_zero(stub, backend):
    # Only the required fields, plus zero/false/empty values that must arrive as values.
    application = pb.LoanApplication(
        client_income=5000.0, credit_amount=20000.0, age_days=12000.0,
        child_count=0, car_owned=False, own_house_age=0.0,
    )  # fmt: skip
    sent = {
        "client_income": 5000.0, "credit_amount": 20000.0, "age_days": 12000.0,
        "child_count": 0, "car_owned": False, "own_house_age": 0.0,
    }  # fmt: skip
    assert convert.application_to_dict(application) == sent
    assert {spec.name for spec in REQUIRED_FIELDS} <= set(sent)
    response = stub.Predict(pb.PredictRequest(application=application))
    assert 0.0 < response.prediction.default_probability < 1.0
    logged = _logged(backend)[response.prediction.prediction_id]["application"]
    assert {k: v for k, v in logged.items() if v is not None} == sent  # the rest missing


def test_missing_values_score_like_the_rest_api(client, backend):
    sparse = {"client_income": 5000.0, "credit_amount": 20000.0, "age_days": 12000.0}
    with_nones = sparse | {"employed_days": None, "score_source_1": math.nan}
    assert client.predict(with_nones)["default_probability"] == _direct(backend, sparse)


def test_predict_batch_of_10000_rows_keeps_order_and_values(client, backend):
    frame = generate_applications(10_000, seed=3)
    requests = to_requests(frame)
    predictions = client.predict_batch(requests)
    assert len(predictions) == 10_000
    expected = backend.scorer.model.predict_proba(records_to_frame(requests))
    got = np.array([p["default_probability"] for p in predictions])
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    assert len({p["prediction_id"] for p in predictions}) == 10_000


def test_explain_gives_reasons_for_the_same_score(client, backend, applications):
    application = max(applications, key=lambda a: _direct(backend, a))
    explanation = client.explain(application)
    assert explanation["default_probability"] == _direct(backend, application)
    reasons = explanation["reasons"]
    assert 1 <= len(reasons) <= 4
    contributions = [r["contribution"] for r in reasons]
    assert contributions == sorted(contributions, reverse=True) and contributions[-1] > 0
    names = backend.scorer.model.feature_names
    assert all(r["feature"] in names and r["reason"] for r in reasons)
    assert all(r["value"] is None or isinstance(r["value"], float | str) for r in reasons)
    assert isinstance(explanation["base_value"], float)


def test_metadata_is_the_backends_json(loop, client, backend):
    metadata = client.metadata()
    ctx = CallContext("metadata", "grpc")
    expected = convert.jsonable(loop.run(backend.metadata(ctx)))
    assert metadata["training_date"] == backend.scorer.meta.created_at.isoformat()
    assert metadata["data_rows"] == 3000.0  # a JSON object: every number is a double
    assert metadata["mlflow_run_id"] is None
    assert metadata == expected


def test_feedback_round_trip_and_unknown_prediction(client, applications):
    prediction = client.predict(applications[0])
    receipt = client.feedback(prediction["prediction_id"], 1)
    assert receipt["prediction_id"] == prediction["prediction_id"]
    assert receipt["observed_default"] == 1
    assert receipt["model_version"] == "vgrpc-test"
    assert receipt["recorded_at"]
    with pytest.raises(NotFoundError, match="was never issued here"):
        client.feedback("00000000-0000-0000-0000-000000000000", 0)


def test_feedback_without_outcome_or_with_a_bad_one_is_invalid(client, stub):
    with pytest.raises(grpc.RpcError) as raised:
        stub.Feedback(pb.FeedbackRequest(prediction_id="abc"))
    assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert violations_from_call(raised.value)[0][0] == "observed_default"
    with pytest.raises(RejectedRequestError) as rejected:
        client.feedback("00000000-0000-0000-0000-000000000000", 2)
    assert rejected.value.fields == ["observed_default"]
    with pytest.raises(RejectedRequestError) as rejected:
        client.feedback("abc", 1)
    assert rejected.value.fields == ["prediction_id"]


def test_health_reports_serving(client):
    assert client.health() == "SERVING"
    assert client.health("") == "SERVING"


# -- errors --------------------------------------------------------------------------------
def _invalid_fields(application: dict[str, Any]) -> set[str]:
    """The fields the REST request model rejects."""
    from pydantic import ValidationError

    try:
        application_model().model_validate(application)
    except ValidationError as exc:
        return {str(e["loc"][-1]) for e in exc.errors()}
    return set()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("client_occupation", "astronaut"),  # not in the closed vocabulary
        ("client_gender", ""),  # empty is a value, and not an allowed one
        ("age_days", 100.0),  # below 18 years
        ("child_count", -1),
        ("score_source_2", 1.5),
        ("client_income", math.inf),
        ("type_organization", "Not Snake Case"),
        ("application_date", "yesterday"),
    ],
)
def test_bad_values_are_invalid_argument_naming_the_field(client, applications, field, value):
    application = applications[0] | {field: value}
    assert _invalid_fields(application) == {field}  # REST rejects exactly this field
    with pytest.raises(RejectedRequestError) as raised:
        client.predict(application)
    assert raised.value.fields == [f"application.{field}"]
    assert field in str(raised.value)
    description = raised.value.violations[0][1]
    assert f"(valid: {FIELDS_BY_NAME[field].rule()})" in description, description
    with pytest.raises(RejectedRequestError) as in_explain:
        client.explain(application)
    assert in_explain.value.fields == [f"application.{field}"]


def test_nan_sent_over_the_wire_is_rejected_like_rest(stub):
    application = pb.LoanApplication(client_income=math.nan, credit_amount=1.0, age_days=9000.0)
    with pytest.raises(grpc.RpcError) as raised:
        stub.Predict(pb.PredictRequest(application=application))
    assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "client_income" in (raised.value.details() or "")
    status = rpc_status.from_call(raised.value)  # the standard rich error model
    assert status is not None and status.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert [field for field, _ in violations_from_call(raised.value)] == [
        "application.client_income"
    ]


def test_missing_required_field_is_named(client):
    with pytest.raises(RejectedRequestError) as raised:
        client.predict({"client_income": 5000.0, "credit_amount": 20000.0})
    assert raised.value.fields == ["application.age_days"]


def test_batch_violations_name_the_row(client, applications):
    batch = [dict(a) for a in applications[:6]]
    batch[3]["age_days"] = 10.0
    batch[5]["client_occupation"] = "astronaut"
    with pytest.raises(RejectedRequestError) as raised:
        client.predict_batch(batch)
    assert raised.value.fields == ["applications[3].age_days", "applications[5].client_occupation"]


def test_batch_size_limits(loop, tmp_path, tag, client, applications):
    with pytest.raises(RejectedRequestError) as empty:
        client.predict_batch([])
    assert empty.value.fields == ["applications"]
    limited_backend = serving_backend(tmp_path, tag, max_batch_rows=5)
    small = loop.run(start_server(limited_backend, host="127.0.0.1", port=0))
    try:
        with LoanScoringClient(small.target) as limited:
            assert len(limited.predict_batch(applications[:5])) == 5
            with pytest.raises(RejectedRequestError, match="from 1 to 5 applications per call"):
                limited.predict_batch(applications[:6])
    finally:
        loop.run(small.stop(grace=0))


def test_client_refuses_what_cannot_be_encoded(client):
    with pytest.raises(InputError, match="client_income: 'abc' is not a number"):
        client.predict({"client_income": "abc"})
    with pytest.raises(InputError, match="car_owned: 1 is not true or false"):
        client.predict({"car_owned": 1})
    with pytest.raises(InputError, match=r"child_count: 2\.5 is not an integer"):
        client.predict({"child_count": 2.5})
    with pytest.raises(InputError, match="'salary' is not a field"):
        client.predict({"salary": 1.0})


@pytest.mark.parametrize(
    ("error", "code", "raised_type"),
    [
        (PAUSED, grpc.StatusCode.UNAVAILABLE, UnavailableError),
        (NotFoundError("no model loan_default:9"), grpc.StatusCode.NOT_FOUND, NotFoundError),
        (LoanError("model file is corrupt"), grpc.StatusCode.INTERNAL, grpc.RpcError),
    ],
)  # fmt: skip
def test_backend_errors_map_to_status_codes(
    client, stub, backend, applications, error, code, raised_type
):
    backend.fail_with = error
    calls = [
        lambda: stub.Predict(pb.PredictRequest()),
        lambda: stub.PredictBatch(pb.PredictBatchRequest(applications=[pb.LoanApplication()])),
        lambda: stub.Explain(pb.ExplainRequest()),
        lambda: stub.Metadata(pb.MetadataRequest()),
        lambda: stub.Feedback(pb.FeedbackRequest(prediction_id="x", observed_default=0)),
    ]
    for call in calls:
        with pytest.raises(grpc.RpcError) as raised:
            call()
        assert raised.value.code() is code
        assert raised.value.details() == str(error)
    with pytest.raises(raised_type, match=str(error)):
        client.predict(applications[0])


# -- the server's lifetime -----------------------------------------------------------------
def test_workers_share_the_port_and_stop_gracefully(loop, backend, applications):
    first = loop.run(start_server(backend, host="127.0.0.1", port=0))
    second = loop.run(start_server(backend, host="127.0.0.1", port=first.port))  # SO_REUSEPORT
    try:
        assert second.port == first.port
        with LoanScoringClient(first.target, timeout=10) as connected:
            assert connected.health() == "SERVING"
            loop.run(first.stop(grace=0))
            assert connected.predict(applications[0])["default_probability"] > 0
        loop.run(second.stop(grace=0))
        with LoanScoringClient(first.target, timeout=5) as late, pytest.raises(UnavailableError):
            late.predict(applications[0])
    finally:
        loop.run(first.stop(grace=0))
        loop.run(second.stop(grace=0))


def test_an_address_that_cannot_be_bound_is_a_config_error(loop, backend):
    with pytest.raises(ConfigError, match=r"cannot bind the gRPC server to 203\.0\.113\.7:3299"):
        loop.run(start_server(backend, host="203.0.113.7", port=3299))


def test_async_client(loop, server, backend, applications):
    async def session() -> None:
        async with AsyncLoanScoringClient(server.target, timeout=30) as client:
            prediction = await client.predict(applications[0])
            assert prediction["default_probability"] == _direct(backend, applications[0])
            batch = await client.predict_batch(applications[:3])
            assert [p["default_probability"] for p in batch] == [
                _direct(backend, a) for a in applications[:3]
            ]
            assert (await client.explain(applications[0]))["reasons"]
            assert (await client.metadata())["model_version"] == "vgrpc-test"
            receipt = await client.feedback(prediction["prediction_id"], 1)
            assert receipt["observed_default"] == 1
            with pytest.raises(RejectedRequestError) as rejected:
                await client.predict(applications[0] | {"age_days": 1.0})
            assert rejected.value.fields == ["application.age_days"]
            with pytest.raises(NotFoundError):
                await client.feedback("00000000-0000-0000-0000-000000000000", 0)

    loop.run(session())


def test_calls_are_counted_by_method_and_code(client, backend, applications):
    from prometheus_client import REGISTRY

    from loan_default.grpc.messages import SERVICE_NAME

    def handled(method: str, code: str) -> float:
        labels = {"grpc_service": SERVICE_NAME, "grpc_method": method, "grpc_code": code}
        return REGISTRY.get_sample_value("grpc_server_handled_total", labels) or 0.0

    def timed(method: str) -> float:
        labels = {"grpc_service": SERVICE_NAME, "grpc_method": method}
        return REGISTRY.get_sample_value("grpc_server_handling_seconds_count", labels) or 0.0

    before = {
        "ok": handled("Predict", "OK"),
        "invalid": handled("Predict", "INVALID_ARGUMENT"),
        "unavailable": handled("PredictBatch", "UNAVAILABLE"),
        "timed": timed("Predict"),
    }
    client.predict(applications[0])
    with pytest.raises(RejectedRequestError):
        client.predict(applications[0] | {"age_days": 1.0})
    backend.fail_with = PAUSED
    with pytest.raises(UnavailableError):
        client.predict_batch(applications[:2])
    # The server counts a call after its status has gone out, so the client can see an error
    # an instant before the counter moves: wait for it (bounded) rather than race it.
    expected = {
        ("Predict", "OK"): before["ok"] + 1,
        ("Predict", "INVALID_ARGUMENT"): before["invalid"] + 1,
        ("PredictBatch", "UNAVAILABLE"): before["unavailable"] + 1,
    }
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(handled(*k) != v for k, v in expected.items()):
        time.sleep(0.01)
    assert {k: handled(*k) for k in expected} == expected
    assert timed("Predict") == before["timed"] + 2
