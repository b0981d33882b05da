"""A small typed client of the gRPC API, for integrators (underwriting systems) and tests.

    from loan_default.grpc.client import LoanScoringClient

    with LoanScoringClient("scoring.internal:3001") as client:
        prediction = client.predict({"client_income": 6750.0, "credit_amount": 61190.55,
                                     "age_days": 13957.0})
        print(prediction["default_probability"], prediction["risk_category"])

It takes and returns the REST API's JSON shapes as dicts, so code can switch protocols without
changing anything else. Rejected input raises :class:`RejectedRequestError` (an
``InputError``) with the field violations; an unknown prediction raises ``NotFoundError``; a
service that cannot score now (or cannot be reached) raises ``UnavailableError``. Other
failures (deadline exceeded, internal errors) stay ``grpc.RpcError``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar

import grpc
from google.protobuf.message import Message
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from loan_default.bodies import ExplanationBody, FeedbackReceiptBody, PredictionBody
from loan_default.errors import InputError, NotFoundError, UnavailableError
from loan_default.grpc import loan_scoring_pb2 as pb
from loan_default.grpc import loan_scoring_pb2_grpc as pb_grpc
from loan_default.grpc import messages
from loan_default.grpc.messages import MAX_MESSAGE_BYTES, SERVICE_NAME

R = TypeVar("R", bound=Message)


class RejectedRequestError(InputError):
    """The service rejected the request (INVALID_ARGUMENT).

    Attributes:
        violations: (field path, description) pairs, e.g.
            ``("applications[3].age_days", "Input should be ... (valid: ...)")``.
    """

    def __init__(self, message: str, violations: Sequence[tuple[str, str]] = ()) -> None:
        super().__init__(message)
        self.violations = list(violations)

    @property
    def fields(self) -> list[str]:
        """The rejected fields' paths."""
        return [path for path, _ in self.violations]


class LoanScoringClient:
    """Blocking client of ``loan_default.v1.LoanScoring``.

    Args:
        target: ``host:port`` of the service's gRPC port.
        timeout: seconds each call may take before ``DEADLINE_EXCEEDED``.
        credentials: TLS channel credentials; plaintext when None.
        metadata: sent with every call, e.g. ``[("authorization", "Bearer ...")]``.
        max_message_bytes: largest message sent or received (a 10,000-row batch is ~3 MB).
    """

    def __init__(
        self,
        target: str,
        *,
        timeout: float = 30.0,
        credentials: grpc.ChannelCredentials | None = None,
        metadata: Sequence[tuple[str, str]] = (),
        max_message_bytes: int = MAX_MESSAGE_BYTES,
    ) -> None:
        options = _options(max_message_bytes)
        self.target = target
        self.timeout = timeout
        self.call_metadata = tuple(metadata)
        if credentials is None:
            self._channel = grpc.insecure_channel(target, options=options)
        else:
            self._channel = grpc.secure_channel(target, credentials, options=options)
        self._stub = pb_grpc.LoanScoringStub(self._channel)
        self._health = health_pb2_grpc.HealthStub(self._channel)

    # -- calls -------------------------------------------------------------------------------
    def predict(self, application: Mapping[str, Any]) -> PredictionBody:
        """Score one application (a dict of canonical fields; None/NaN = missing)."""
        response = self._call(self._stub.Predict, _predict_request(application))
        return messages.prediction_to_dict(response.prediction)

    def predict_batch(self, applications: Iterable[Mapping[str, Any]]) -> list[PredictionBody]:
        """Score many applications in one call; predictions come back in the same order."""
        response = self._call(self._stub.PredictBatch, _batch_request(applications))
        return [messages.prediction_to_dict(p) for p in response.predictions]

    def explain(self, application: Mapping[str, Any]) -> ExplanationBody:
        """Score one application and return its principal reasons."""
        request = pb.ExplainRequest(application=messages.application_from_dict(application))
        return messages.explanation_to_dict(self._call(self._stub.Explain, request))

    def metadata(self) -> dict[str, Any]:
        """The served model's metadata (the REST ``/metadata`` body)."""
        return messages.metadata_to_dict(self._call(self._stub.Metadata, pb.MetadataRequest()))

    def feedback(self, prediction_id: str, observed_default: int) -> FeedbackReceiptBody:
        """Record that the loan of ``prediction_id`` defaulted (1) or not (0)."""
        request = pb.FeedbackRequest(prediction_id=prediction_id, observed_default=observed_default)
        return messages.feedback_to_dict(self._call(self._stub.Feedback, request))

    def health(self, service: str = SERVICE_NAME) -> str:
        """The standard health check's answer: ``SERVING``, ``NOT_SERVING``, ..."""
        request = health_pb2.HealthCheckRequest(service=service)
        response = self._health.Check(request, timeout=self.timeout, metadata=self.call_metadata)
        return health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)

    def wait_ready(self, timeout: float = 10.0) -> None:
        """Block until the channel connects; ``grpc.FutureTimeoutError`` after ``timeout``."""
        grpc.channel_ready_future(self._channel).result(timeout=timeout)

    def _call(self, method: grpc.UnaryUnaryMultiCallable[Any, R], request: Message) -> R:
        try:
            response: R = method(request, timeout=self.timeout, metadata=self.call_metadata)
        except grpc.RpcError as error:
            raise _translated(error) from error
        return response

    # -- lifetime ----------------------------------------------------------------------------
    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> LoanScoringClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncLoanScoringClient:
    """The same client for asyncio code (``grpc.aio``); same arguments, awaitable methods.

    Use it as ``async with AsyncLoanScoringClient(target) as client:`` inside a running loop.
    """

    def __init__(
        self,
        target: str,
        *,
        timeout: float = 30.0,
        credentials: grpc.ChannelCredentials | None = None,
        metadata: Sequence[tuple[str, str]] = (),
        max_message_bytes: int = MAX_MESSAGE_BYTES,
    ) -> None:
        options = _options(max_message_bytes)
        self.target = target
        self.timeout = timeout
        self.call_metadata = tuple(metadata)
        if credentials is None:
            self._channel = grpc.aio.insecure_channel(target, options=options)
        else:
            self._channel = grpc.aio.secure_channel(target, credentials, options=options)
        self._stub = pb_grpc.LoanScoringStub(self._channel)

    async def predict(self, application: Mapping[str, Any]) -> PredictionBody:
        """Score one application."""
        response = await self._call(self._stub.Predict, _predict_request(application))
        return messages.prediction_to_dict(response.prediction)

    async def predict_batch(
        self, applications: Iterable[Mapping[str, Any]]
    ) -> list[PredictionBody]:
        """Score many applications in one call, in order."""
        response = await self._call(self._stub.PredictBatch, _batch_request(applications))
        return [messages.prediction_to_dict(p) for p in response.predictions]

    async def explain(self, application: Mapping[str, Any]) -> ExplanationBody:
        """Score one application and return its principal reasons."""
        request = pb.ExplainRequest(application=messages.application_from_dict(application))
        return messages.explanation_to_dict(await self._call(self._stub.Explain, request))

    async def metadata(self) -> dict[str, Any]:
        """The served model's metadata."""
        response = await self._call(self._stub.Metadata, pb.MetadataRequest())
        return messages.metadata_to_dict(response)

    async def feedback(self, prediction_id: str, observed_default: int) -> FeedbackReceiptBody:
        """Record the observed outcome of an earlier prediction."""
        request = pb.FeedbackRequest(prediction_id=prediction_id, observed_default=observed_default)
        return messages.feedback_to_dict(await self._call(self._stub.Feedback, request))

    async def _call(self, method: Any, request: Message) -> Any:
        try:
            return await method(request, timeout=self.timeout, metadata=self.call_metadata)
        except grpc.RpcError as error:
            raise _translated(error) from error

    async def close(self) -> None:
        await self._channel.close()

    async def __aenter__(self) -> AsyncLoanScoringClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


def _options(max_message_bytes: int) -> list[tuple[str, Any]]:
    return [
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.max_send_message_length", max_message_bytes),
    ]


def _predict_request(application: Mapping[str, Any]) -> pb.PredictRequest:
    return pb.PredictRequest(application=messages.application_from_dict(application))


def _batch_request(applications: Iterable[Mapping[str, Any]]) -> pb.PredictBatchRequest:
    request = pb.PredictBatchRequest()
    for application in applications:  # built in place: no copy per application
        messages.add_application(request.applications.add, application)
    return request


def _translated(error: grpc.RpcError) -> Exception:
    """The platform's error for a failed call, or the RpcError itself."""
    call = error if isinstance(error, grpc.Call | grpc.aio.AioRpcError) else None
    code = call.code() if call is not None else None
    details = call.details() if call is not None else str(error)
    if code is grpc.StatusCode.INVALID_ARGUMENT:
        return RejectedRequestError(details or "invalid request", violations_from_call(error))
    if code is grpc.StatusCode.NOT_FOUND:
        return NotFoundError(details or "not found")
    if code is grpc.StatusCode.UNAVAILABLE:
        return UnavailableError(details or "service unavailable")
    return error


def violations_from_call(call: Any) -> list[tuple[str, str]]:
    """(field path, description) pairs from a failed call's ``BadRequest``, if it has one."""
    status = rpc_status.from_call(call)
    if status is None:
        return []
    out: list[tuple[str, str]] = []
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad_request = error_details_pb2.BadRequest()
            detail.Unpack(bad_request)
            out.extend((v.field, v.description) for v in bad_request.field_violations)
    return out
