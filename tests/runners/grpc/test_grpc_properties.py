"""Property tests of the gRPC messages (hypothesis) against a real grpc.aio server over the real
serving backend (scorer, traffic log, explainer core) and a tiny trained model.

Whatever a client sends (any value in any field, unknown fields, bytes that are no message at
all) the answer is a documented status: OK, INVALID_ARGUMENT, NOT_FOUND or UNAVAILABLE. Never
UNKNOWN or INTERNAL, and never internal text (a traceback, an exception class, a file path).
The examples are derived deterministically (``derandomize``): the same cases on every run.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from google.protobuf.descriptor import FieldDescriptor
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loan_default.grpc import loan_scoring_pb2 as pb
from loan_default.grpc import loan_scoring_pb2_grpc as pb_grpc
from loan_default.grpc.client import violations_from_call
from loan_default.reasons import reason_codes
from loan_default.store import load_model
from runners.backend import ServingBackend
from runners.explainer import ExplainerCore
from runners.grpc.server import GrpcServer, start_server
from runners.loading import load_serving_model
from runners.scorer import Scorer
from runners.settings import ServingSettings
from tests.runners.grpc.grpc_backend import Loop
from tests.runners.tiny_model import build, dev_guard, payloads

DOCUMENTED = {
    grpc.StatusCode.OK,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.UNAVAILABLE,
}
INTERNAL_TEXT = ("Traceback", "Error:", "Exception", 'File "', ".py", "<class", "Unexpected")
PROPERTY = settings(
    max_examples=150,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@pytest.fixture(scope="module")
def bodies() -> list[dict[str, Any]]:
    _, _, frame = build(version="vgrpc-properties")
    return payloads(frame.drop(columns=["default"]).iloc[:50])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, bodies: Any) -> Iterator[GrpcServer]:
    tag = "loan_default:vgrpc-properties"
    settings_ = ServingSettings(
        model_tag=tag, home=tmp_path_factory.mktemp("home"), pause_check_seconds=0
    )
    guard = dev_guard(settings_.home)
    scorer = Scorer(load_serving_model(settings_), settings_, guard)
    explainer = ExplainerCore(load_model(tag), reason_codes(settings_.reasons_path))

    async def explain(applications: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return explainer.explain(applications)

    backend = ServingBackend(scorer, explain, max_batch_rows=20, guard=guard)
    loop = Loop()
    started = loop.run(start_server(backend, host="127.0.0.1", port=0))
    yield started
    loop.run(started.stop(grace=1))
    loop.close()
    scorer.close()


@pytest.fixture(scope="module")
def channel(server: GrpcServer) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(server.target) as opened:
        yield opened


@pytest.fixture(scope="module")
def stub(channel: grpc.Channel) -> pb_grpc.LoanScoringStub:
    return pb_grpc.LoanScoringStub(channel)


def _value(field: FieldDescriptor) -> st.SearchStrategy[Any]:
    if field.type == FieldDescriptor.TYPE_DOUBLE:
        return st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from(
            [0.0, -0.0, 5e-324, 2.2e-311, 1e-300, 1e308, -1e308, 1e9, 1.0000001e9]
        )
    if field.type in (FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_SINT64):
        return st.integers(-(2**63), 2**63 - 1) | st.integers(-3, 30)
    if field.type in (FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_SINT32):
        return st.integers(-(2**31), 2**31 - 1)
    if field.type == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    return st.text(max_size=80) | st.sampled_from(
        ["", "alone", "2026-11-02T10:15:00Z", "2026-11-02T10:15:00", "0", "9999-12-31T00:00:00Z",
         "APP\u202e1", "a\x00b", "x" * 65]
    )  # fmt: skip


_FIELDS = pb.LoanApplication.DESCRIPTOR.fields
_OVERRIDE = st.one_of(*[st.tuples(st.just(f.name), _value(f)) for f in _FIELDS])


@st.composite
def applications(draw: st.DrawFn, bodies: list[dict[str, Any]]) -> pb.LoanApplication:
    """A valid application (or none) with up to five fields set to anything their type holds."""
    base = draw(st.sampled_from([*bodies[:10], {}]))
    message = pb.LoanApplication()
    for name, value in base.items():
        setattr(message, name, value)
    for name, value in draw(st.lists(_OVERRIDE, max_size=5)):
        if draw(st.booleans()) and message.HasField(name):
            message.ClearField(name)
        else:
            setattr(message, name, value)
    return message


def _check(call: Any) -> grpc.StatusCode:
    """The call's status, asserting it is documented and carries no internals."""
    try:
        call()
    except grpc.RpcError as error:
        code, details = error.code(), error.details() or ""
        assert code in DOCUMENTED, (code, details)
        assert not any(text in details for text in INTERNAL_TEXT), details
        if code == grpc.StatusCode.INVALID_ARGUMENT:
            assert details.strip()
        return code
    return grpc.StatusCode.OK


def test_any_application_gets_a_documented_status(stub: Any, bodies: list[dict[str, Any]]) -> None:
    @PROPERTY
    @given(application=applications(bodies))
    def check(application: pb.LoanApplication) -> None:
        request = pb.PredictRequest(application=application)
        code = _check(lambda: stub.Predict(request, timeout=30))
        if code == grpc.StatusCode.OK:
            answer = stub.Predict(request, timeout=30).prediction
            assert 0.0 <= answer.default_probability <= 1.0
        _check(lambda: stub.Explain(pb.ExplainRequest(application=application), timeout=30))

    check()


def test_explanations_are_finite_and_bounded(stub: Any, bodies: list[dict[str, Any]]) -> None:
    @PROPERTY
    @given(application=applications(bodies))
    def check(application: pb.LoanApplication) -> None:
        try:
            answer = stub.Explain(pb.ExplainRequest(application=application), timeout=30)
        except grpc.RpcError as error:
            assert error.code() in DOCUMENTED, error.details()
            return
        for reason in answer.reasons:
            assert math.isfinite(reason.contribution) and abs(reason.contribution) < 50

    check()


def test_a_bad_row_of_a_batch_is_named_with_its_index(
    stub: Any, bodies: list[dict[str, Any]]
) -> None:
    @PROPERTY
    @given(index=st.integers(0, 9), value=st.sampled_from([-1.0, math.nan, math.inf, 1e12]))
    def check(index: int, value: float) -> None:
        request = pb.PredictBatchRequest()
        for i, body in enumerate(bodies[:10]):
            row = request.applications.add(**body)
            if i == index:
                row.age_days = value
        with pytest.raises(grpc.RpcError) as caught:
            stub.PredictBatch(request, timeout=30)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        fields = [path for path, _ in violations_from_call(caught.value)]
        assert fields == [f"applications[{index}].age_days"], caught.value.details()

    check()


_RPCS = [
    (m.name, getattr(pb, m.input_type.name), getattr(pb, m.output_type.name))
    for m in pb.DESCRIPTOR.services_by_name["LoanScoring"].methods
]


@pytest.mark.parametrize(("rpc", "request_type", "response_type"), _RPCS)
def test_bytes_that_are_no_message_get_invalid_argument(
    channel: grpc.Channel, rpc: str, request_type: Any, response_type: Any
) -> None:
    call: Any = channel.unary_unary(f"/loan_default.v1.LoanScoring/{rpc}")

    @PROPERTY
    @given(raw=st.binary(max_size=200))
    def check(raw: bytes) -> None:
        _check(lambda: call(raw, timeout=30))

    check()
    with pytest.raises(grpc.RpcError) as caught:
        call(b"\xff\xff\xff", timeout=30)  # a truncated varint: never a valid message
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "not a valid" in (caught.value.details() or "")


@pytest.mark.parametrize(("rpc", "request_type", "response_type"), _RPCS)
def test_unknown_fields_are_refused_as_rest_refuses_unknown_keys(
    channel: grpc.Channel, bodies: list[dict[str, Any]], rpc: str, request_type: Any,
    response_type: Any,
) -> None:  # fmt: skip
    call: Any = channel.unary_unary(f"/loan_default.v1.LoanScoring/{rpc}")
    extra = bytes([0xF8, 0x06, 0x01])  # field 111, varint 1: in no message of this proto
    with pytest.raises(grpc.RpcError) as caught:
        call(request_type().SerializeToString() + extra, timeout=30)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "unknown fields" in (caught.value.details() or "")
    assert "field number 111" in (caught.value.details() or "")


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def test_an_unknown_field_inside_an_application_is_named(
    channel: grpc.Channel, bodies: list[dict[str, Any]]
) -> None:
    inner = pb.LoanApplication(**bodies[0]).SerializeToString() + bytes([0xF8, 0x06, 0x01])
    raw = pb.PredictBatchRequest(applications=[pb.LoanApplication(**bodies[1])]).SerializeToString()
    raw += b"\x0a" + _varint(len(inner)) + inner  # field 1 (applications), length-delimited
    call: Any = channel.unary_unary("/loan_default.v1.LoanScoring/PredictBatch")
    with pytest.raises(grpc.RpcError) as caught:
        call(raw, timeout=30)
    assert "applications[1]: field number 111" in (caught.value.details() or "")


def test_feedback_with_any_id_and_outcome_gets_a_documented_status(stub: Any) -> None:
    @PROPERTY
    @given(pid=st.text(max_size=60), outcome=st.integers(-(2**31), 2**31 - 1) | st.none())
    def check(pid: str, outcome: int | None) -> None:
        request = pb.FeedbackRequest(prediction_id=pid)
        if outcome is not None:
            request.observed_default = outcome
        _check(lambda: stub.Feedback(request, timeout=30))

    check()


def test_server_reflection_lists_the_services(channel: grpc.Channel) -> None:
    from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
        ProtoReflectionDescriptorDatabase,
    )

    database = ProtoReflectionDescriptorDatabase(channel)
    services = set(database.get_services())
    assert "loan_default.v1.LoanScoring" in services and "grpc.health.v1.Health" in services
    described = database.FindFileContainingSymbol("loan_default.v1.LoanScoring")
    assert any(s.name == "LoanScoring" for s in described.service)
