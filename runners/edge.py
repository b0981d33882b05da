"""The security edge of both transports: every call is authenticated before any route runs.

* REST: :class:`BearerAuth`, an ASGI middleware in front of the API's own routes
  (``runners.routing.ScoringService``) and the outermost of ours in BentoML's chain, which
  serves every other path. ``/livez`` and ``/readyz`` are open;
  ``/metrics`` and the OpenAPI document are open only when configured
  (``LOAN_METRICS_PUBLIC``, ``LOAN_DOCS_PUBLIC``), else they need the ``metrics`` / ``docs``
  permission; everything else needs a valid bearer token (401 with ``WWW-Authenticate``).
* gRPC: :class:`GrpcAuth`, a server interceptor doing the same with the ``authorization``
  metadata (UNAUTHENTICATED); the health and reflection services stay open.

The edge only says *who* calls: it puts the ``Principal`` in :data:`CURRENT` (a context
variable of the request's own task), every ``CallContext`` made in that task carries it
(``ctx.principal``), and the serving backend decides *what* it may do and audits it, once for
both transports (``runners.backend``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from loan_default.api import error_body
from loan_default.errors import AuthenticationError, PermissionDeniedError
from loan_default.security.guard import Guard
from loan_default.security.rbac import CURRENT_PRINCIPAL
from loan_default.security.settings import SecuritySettings
from loan_default.security.tokens import challenge
from runners import metrics

log = logging.getLogger(__name__)

CURRENT = CURRENT_PRINCIPAL
"""The caller of the request being served (set here, read into each ``CallContext``)."""

OPEN_PATHS = frozenset({"/livez", "/readyz", "/healthz"})
DOCS_PATHS = frozenset({"/", "/docs.json", "/schema.json", "/docs"})
GRPC_OPEN = ("/grpc.health.v1.Health/", "/grpc.reflection.")
BEARER_SCHEME = {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                 "description": "OAuth 2.0 bearer token (JWT: ES256/RS256/HS256) whose `roles` "
                 "claim grants the permissions of configs/rbac.yaml."}  # fmt: skip

_guard: Guard | None = None


def worker_guard(stream: str | None = None) -> Guard:
    """This process's :class:`Guard`, built at the first call (the service's start-up)."""
    global _guard
    if _guard is None:
        from runners.scorer import writer_name

        _guard = Guard(SecuritySettings(), stream=stream or writer_name())
    return _guard


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


async def _refuse(send: Send, error: AuthenticationError | PermissionDeniedError) -> None:
    reason = "unauthenticated" if isinstance(error, AuthenticationError) else "forbidden"
    metrics.AUTH_REFUSALS.labels(reason, "rest").inc()
    headers = [(b"content-type", b"application/json")]
    if isinstance(error, AuthenticationError):
        headers.append((b"www-authenticate", challenge(error).encode()))
    body = orjson.dumps(error_body(str(error)))
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": error.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class BearerAuth:
    """ASGI middleware authenticating every HTTP request but the open ones.

    Args:
        app: the rest of the chain.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        guard = worker_guard()
        if path in OPEN_PATHS:
            if path == "/readyz" and guard.verifier is None:
                send = _announce_insecure(send)
            await self.app(scope, receive, send)
            return
        operation = _edge_operation(path)
        principal = None
        if operation is None or not guard.public(operation):
            try:
                principal = guard.authenticate(_header(scope, b"authorization"))
                if operation is not None:
                    guard.authorize(principal, operation)
            except (AuthenticationError, PermissionDeniedError) as error:
                await _refuse(send, error)
                return
        if path == "/docs.json":
            send = _document_bearer(send)
        token = CURRENT.set(principal)
        try:
            await self.app(scope, receive, send)
        finally:
            CURRENT.reset(token)


def _edge_operation(path: str) -> str | None:
    """The permission-checked operation of a non-API path (``metrics``, ``docs``), if any."""
    if path == "/metrics":
        return "metrics"
    if path in DOCS_PATHS or path.startswith("/static_content"):
        return "docs"
    return None


def _rewrite_body(send: Send, change: Callable[[bytes], bytes]) -> Send:
    """A ``send`` that buffers a response body and sends ``change(body)`` instead."""
    start: dict[str, Any] = {}
    chunks: list[bytes] = []

    async def rewriting(message: Message) -> None:
        if message["type"] == "http.response.start":
            start.update(message)
            return
        if message["type"] != "http.response.body":
            await send(message)
            return
        chunks.append(message.get("body", b""))
        if message.get("more_body"):
            return
        body = change(b"".join(chunks))
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({**start, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return rewriting


def _announce_insecure(send: Send) -> Send:
    def change(body: bytes) -> bytes:
        return body + b"\nWARNING: authentication is OFF (development mode)\n"

    return _rewrite_body(send, change)


def _document_bearer(send: Send) -> Send:
    """Add the bearer scheme, and 401/403 answers, to every /v1 operation of the document."""

    def change(body: bytes) -> bytes:
        try:
            spec = orjson.loads(body)
        except orjson.JSONDecodeError:
            return body
        spec.setdefault("components", {}).setdefault("securitySchemes", {})["bearerAuth"] = (
            BEARER_SCHEME
        )
        for path, item in spec.get("paths", {}).items():
            if not path.startswith("/v1/"):
                continue
            for operation in item.values():
                if isinstance(operation, dict):
                    operation["security"] = [{"bearerAuth": []}]
        return orjson.dumps(spec)

    return _rewrite_body(send, change)


class GrpcAuth(grpc.aio.ServerInterceptor):
    """Server interceptor: UNAUTHENTICATED without a valid ``authorization`` bearer token.

    The check runs inside the call's own task, so :data:`CURRENT` reaches the servicer. The
    authenticating handler of each method is built once: the server's handlers are registered
    at start and never change, and building one per call cost a handler and a closure a call.
    """

    def __init__(self) -> None:
        self._handlers: dict[str, Any] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Any]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Any:
        method = str(handler_call_details.method)
        handler = self._handlers.get(method)
        if handler is None:
            handler = await continuation(handler_call_details)
            if handler is None:  # no such method: grpc answers UNIMPLEMENTED, nothing to keep
                return None
            handler = self._handlers[method] = _authenticating(method, handler)
        return handler


def grpc_interceptors(guard: Guard) -> list[grpc.aio.ServerInterceptor]:
    """The gRPC server's interceptors: :class:`GrpcAuth`, or none while authentication is off
    (every caller is then the anonymous principal the backend assumes when no edge ran, and
    an interceptor would only add its per-call chain to each call)."""
    return [] if guard.verifier is None else [GrpcAuth()]


def _authenticating(method: str, handler: Any) -> Any:
    """``handler`` authenticating its calls first, unless its method is open (health,
    reflection) or streams."""
    if method.startswith(GRPC_OPEN) or handler.unary_unary is None:
        return handler
    inner: Any = handler.unary_unary
    guard = worker_guard()

    async def authenticated(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        metadata = context.invocation_metadata() or ()
        header = next((str(v) for k, v in metadata if k == "authorization"), None)
        try:
            principal = guard.authenticate(header)
        except AuthenticationError as error:
            metrics.AUTH_REFUSALS.labels("unauthenticated", "grpc").inc()
            context.set_trailing_metadata((("www-authenticate", challenge(error)),))
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, str(error))
        token = CURRENT.set(principal)
        try:
            return await inner(request, context)
        finally:
            CURRENT.reset(token)

    return grpc.unary_unary_rpc_method_handler(
        authenticated,
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


def grpc_credentials(settings: SecuritySettings) -> grpc.ServerCredentials | None:
    """TLS credentials of the gRPC server when a certificate is configured, else None.

    With ``LOAN_TLS_CLIENT_CA_FILE`` clients must present a certificate that CA signed (mTLS).
    gRPC's TLS stack negotiates TLS 1.2 at least (1.3 preferred).
    """
    if settings.tls_cert_file is None or settings.tls_key_file is None:
        return None
    from loan_default.security.secret_files import read_secret

    key = read_secret(settings.tls_key_file, what="LOAN_TLS_KEY_FILE")
    chain = read_secret(settings.tls_cert_file, what="LOAN_TLS_CERT_FILE")
    ca = settings.tls_client_ca_file
    return grpc.ssl_server_credentials(
        [(key, chain)],
        root_certificates=read_secret(ca, what="LOAN_TLS_CLIENT_CA_FILE") if ca else None,
        require_client_auth=ca is not None,
    )
