"""The gRPC endpoint of the scoring service: a ``grpc.aio`` server over a scoring backend.

BentoML 1.4 services have no gRPC (``serve-grpc`` takes only legacy services), so each service
worker starts this server in its own event loop, next to its HTTP server, over the worker's
:class:`runners.backend.ServingBackend` (the one the REST routes call). The server only
translates: messages to the REST JSON dicts, the backend's dicts back to messages, and the
backend's errors to status codes:

* :class:`~loan_default.errors.InputError` -> ``INVALID_ARGUMENT``, with the message and a
  ``google.rpc.BadRequest`` of field violations in the trailing metadata
  (``grpc-status-details-bin``, the standard rich error model);
* :class:`~loan_default.errors.NotFoundError` -> ``NOT_FOUND``;
* :class:`~loan_default.errors.UnavailableError` -> ``UNAVAILABLE``;
* any other :class:`~loan_default.errors.LoanError` -> ``INTERNAL`` with its message.

Validation stays in the backend (the REST request model), so both protocols accept and reject
the same applications with the same field names. Every worker binds the same port with
``SO_REUSEPORT`` and the kernel spreads connections among them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio
from grpc_reflection.v1alpha import reflection

from loan_default.api import CallContext, Endpoint
from loan_default.errors import InputError
from loan_default.grpc import loan_scoring_pb2 as pb
from loan_default.grpc import loan_scoring_pb2_grpc as pb_grpc
from loan_default.grpc.messages import DEFAULT_PORT, MAX_MESSAGE_BYTES, SERVICE_NAME
from runners.grpc import convert
from runners.grpc.guard import guarded, lenient
from runners.grpc.metrics import observed
from runners.grpc.status import abort, mapped

logger = logging.getLogger(__name__)

INLINE_ROWS = 256
"""Larger batches are converted off the event loop (about 20 us a row each way)."""

T = TypeVar("T")


class ScoringBackend(Protocol):
    """What the server calls: :class:`runners.backend.ServingBackend`, the backend of the REST
    routes too (the same methods, with ``transport="grpc"`` in the context).

    Applications are the REST JSON dicts of the messages, validated by the backend with the
    REST request model; it raises ``RequestRejectedError`` whose ``details`` become the field
    violations.
    """

    def check_batch_size(self, rows: int) -> None:
        """Refuse a call of this many applications (checked before converting a batch)."""
        ...

    async def predict(
        self, applications: Sequence[Mapping[str, Any]], ctx: CallContext
    ) -> Sequence[Mapping[str, Any]]:
        """Predictions, one per application in order."""
        ...

    async def explain(self, application: Mapping[str, Any], ctx: CallContext) -> Mapping[str, Any]:
        """A prediction plus ``base_value`` and ``reasons`` (feature, value, contribution)."""
        ...

    async def metadata(self, ctx: CallContext) -> Mapping[str, Any]:
        """The REST ``/v1/metadata`` body."""
        ...

    async def feedback(self, request: Mapping[str, Any], ctx: CallContext) -> Mapping[str, Any]:
        """Record an outcome: ``{prediction_id, observed_default, model_version, recorded_at}``."""
        ...


def _context(endpoint: Endpoint) -> CallContext:
    return CallContext(endpoint=endpoint, transport="grpc")


class LoanScoringServicer(pb_grpc.LoanScoringServicer):
    """The ``LoanScoring`` service over a :class:`ScoringBackend`.

    Args:
        backend: the serving backend (it holds the batch limit).
    """

    def __init__(self, backend: ScoringBackend) -> None:
        self.backend = backend

    @observed(SERVICE_NAME)
    @guarded
    async def Predict(  # noqa: N802 (named by the proto)
        self, request: pb.PredictRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.PredictResponse:
        application = convert.application_to_dict(request.application)
        predictions = await mapped(
            context, self.backend.predict([application], _context("predict"))
        )
        return pb.PredictResponse(prediction=convert.prediction_to_proto(predictions[0]))

    @observed(SERVICE_NAME)
    @guarded
    async def PredictBatch(  # noqa: N802 (named by the proto)
        self, request: pb.PredictBatchRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.PredictBatchResponse:
        n = len(request.applications)
        await mapped(context, _call_sync(lambda: self.backend.check_batch_size(n)), root="")
        applications = await _off_loop(
            n, lambda: [convert.application_to_dict(a) for a in request.applications]
        )
        predictions = await mapped(
            context,
            self.backend.predict(applications, _context("predict_batch")),
            root="applications",
        )
        return await _off_loop(n, lambda: convert.batch_to_proto(predictions))

    @observed(SERVICE_NAME)
    @guarded
    async def Explain(  # noqa: N802 (named by the proto)
        self, request: pb.ExplainRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ExplainResponse:
        application = convert.application_to_dict(request.application)
        explanation = await mapped(context, self.backend.explain(application, _context("explain")))
        return convert.explanation_to_proto(explanation)

    @observed(SERVICE_NAME)
    @guarded
    async def Metadata(  # noqa: N802 (named by the proto)
        self, request: pb.MetadataRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.MetadataResponse:
        metadata = await mapped(context, self.backend.metadata(_context("metadata")), root="")
        return convert.metadata_to_proto(metadata)

    @observed(SERVICE_NAME)
    @guarded
    async def Feedback(  # noqa: N802 (named by the proto)
        self, request: pb.FeedbackRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.FeedbackResponse:
        if not request.HasField("observed_default"):
            rule = "required: 1 if the loan defaulted, 0 if not"
            await abort(
                context, InputError(f"observed_default: {rule}"), [("observed_default", rule)]
            )
        receipt = await mapped(
            context,
            self.backend.feedback(
                {
                    "prediction_id": request.prediction_id,
                    "observed_default": request.observed_default,
                },
                _context("feedback"),
            ),
            root="",
        )
        return convert.feedback_to_proto(receipt)


async def _call_sync(function: Callable[[], T]) -> T:
    return function()


async def _off_loop(rows: int, function: Callable[[], T]) -> T:
    """Convert a large batch in a thread: the worker's HTTP requests share this event loop."""
    if rows <= INLINE_ROWS:
        return function()
    return await asyncio.to_thread(function)


@dataclass
class GrpcServer:
    """A started server: its actual port (useful with port 0) and a graceful stop."""

    server: grpc.aio.Server
    health: health_aio.HealthServicer
    host: str
    port: int

    @property
    def target(self) -> str:
        """The address clients dial, e.g. ``127.0.0.1:3001``."""
        return f"{_host_for_address(self.host)}:{self.port}"

    async def stop(self, grace: float | None = 5.0) -> None:
        """Report NOT_SERVING, refuse new calls and give running ones ``grace`` seconds."""
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace)
        logger.info("gRPC LoanScoring on %s stopped", self.target)


def _add_servicer(servicer: LoanScoringServicer, server: grpc.aio.Server) -> None:
    """``add_LoanScoringServicer_to_server``, with deserializers that never raise: a request
    that is malformed or carries unknown fields reaches the method as a ``Refused`` and ends
    with ``INVALID_ARGUMENT`` (``runners.grpc.guard``), not grpc's ``UNKNOWN``."""
    service = pb.DESCRIPTOR.services_by_name["LoanScoring"]
    handlers = {
        rpc.name: grpc.unary_unary_rpc_method_handler(
            getattr(servicer, rpc.name),
            request_deserializer=lenient(getattr(pb, rpc.input_type.name)),
            response_serializer=getattr(pb, rpc.output_type.name).SerializeToString,
        )
        for rpc in service.methods
    }
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(service.full_name, handlers),)
    )


_NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def _host_for_address(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


async def start_server(
    backend: ScoringBackend,
    *,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    max_message_bytes: int = MAX_MESSAGE_BYTES,
    interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
    credentials: grpc.ServerCredentials | None = None,
    serving: bool = True,
) -> GrpcServer:
    """Start the ``LoanScoring`` service and the standard health service in this event loop.

    Call it from the worker's running loop (a BentoML ``@bentoml.on_startup`` hook, see
    docs/grpc.md); stop it with :meth:`GrpcServer.stop` (an ``@bentoml.on_shutdown`` hook).

    Args:
        backend: the scoring service the RPCs call.
        host: interface to bind: ``127.0.0.1`` (local only) or ``0.0.0.0`` (all).
        port: TCP port; every worker binds the same one (``SO_REUSEPORT``). 0 picks a free one.
        max_message_bytes: largest request or response message.
        interceptors: e.g. an authentication interceptor.
        credentials: TLS credentials; plaintext when None (behind a TLS-terminating proxy).
        serving: what the health service reports (the worker's readiness): ``SERVING`` or
            ``NOT_SERVING``.

    Raises:
        ConfigError: the address cannot be bound.
    """
    from loan_default.errors import ConfigError

    server = grpc.aio.server(
        interceptors=list(interceptors),
        options=[
            ("grpc.so_reuseport", 1),
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
        ],
    )
    _add_servicer(LoanScoringServicer(backend), server)
    health = health_aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    # Reflection: grpcurl, Postman and friends discover the services without the proto file.
    reflection.enable_server_reflection(
        (SERVICE_NAME, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
         reflection.SERVICE_NAME),
        server,
    )  # fmt: skip
    address = f"{_host_for_address(host)}:{port}"
    try:
        if credentials is None:
            bound = server.add_insecure_port(address)
        else:
            bound = server.add_secure_port(address, credentials)
    except RuntimeError as exc:
        raise ConfigError(f"cannot bind the gRPC server to {address}: {exc}") from exc
    if bound == 0:
        raise ConfigError(f"cannot bind the gRPC server to {address}")
    await server.start()
    status = health_pb2.HealthCheckResponse.SERVING if serving else _NOT_SERVING
    for name in ("", SERVICE_NAME):
        await health.set(name, status)
    started = GrpcServer(server=server, health=health, host=host, port=bound)
    logger.info("gRPC LoanScoring listening on %s", started.target)
    return started
