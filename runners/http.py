"""HTTP plumbing of the API service: bounded body reading, strict parsing, one error shape.

The routes read the raw body and validate it with pydantic-core straight from JSON bytes
(``model_validate_json``: no ``json.loads``, no FastAPI re-validation), answer with ``orjson``
and document their bodies through ``openapi_extra``/``responses``, so the OpenAPI page shows
every field while the hot path stays lean (docs/serving.md has the numbers).
"""

from __future__ import annotations

import logging
import os
import random
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from loan_default.api import ErrorResponse, error_body, summarise, validation_details
from loan_default.errors import InputError, LoanError
from runners import metrics
from runners.deadlines import BODY_READS, DeadlineExceededError
from runners.strict_json import is_json, repeated_key

logger = logging.getLogger(__name__)
M = TypeVar("M", bound=BaseModel)


class RequestRejectedError(InputError):
    """A client mistake with its HTTP status and the offending inputs."""

    def __init__(
        self, message: str, *, status_code: int = 422, details: list[dict[str, Any]] | None = None
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.details = details or []


def json_response(
    body: Any, status_code: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    return Response(orjson.dumps(body), status_code, headers, media_type="application/json")


REQUEST_ID_RULE = "1 to 128 characters among A-Z a-z 0-9 and . _ : / + = @ -"
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:/+=@-]{1,128}")


def request_id(request: Request) -> str:
    """The caller's ``X-Request-ID`` (echoed back and logged with every row), else a new one
    (128 random bits).

    Raises:
        RequestRejectedError: 400 when the header breaks :data:`REQUEST_ID_RULE` (an id copied
            into every logged row must not grow the log or carry control characters).
    """
    given = request.headers.get("x-request-id")
    if given is None:
        return os.urandom(16).hex()
    if _REQUEST_ID.fullmatch(given) is None:
        raise RequestRejectedError(
            f"X-Request-ID: must be {REQUEST_ID_RULE} ({len(given):,} characters given)",
            status_code=400,
            details=[{"loc": ["header", "X-Request-ID"], "msg": REQUEST_ID_RULE,
                      "type": "request_id"}],
        )  # fmt: skip
    return given


class ConnectionRecycler:
    """Asks clients to reconnect now and then, so that the workers share the connections.

    The API workers accept connections from one shared socket, and a burst of new keep-alive
    connections goes to whichever worker wakes first: measured, 64 connections opened together
    split anywhere from 32/32 to 64/0, and the worker holding them all answers at one worker's
    speed while the other idles (p99 64 ms instead of 41-45 ms). A ``Connection: close`` on an
    answer makes the client reconnect, and the new connection goes to the worker that accepts
    first: the idle one if there is one. Like nginx's ``keepalive_requests``, but counted in
    applications and at random (no per-connection state): a call of ``n`` applications closes
    its connection with probability ``n / applications_per_connection``, so a connection
    lives ~100 single calls by default, and a 1,000-row batch call always reconnects (a
    handshake against ~50 ms of scoring).

    Args:
        applications_per_connection: mean applications answered per connection; 0 never closes.
    """

    def __init__(self, applications_per_connection: int, *, seed: int | None = None) -> None:
        self.per_connection = applications_per_connection
        self._random = random.Random(seed).random

    def headers(self, applications: int) -> dict[str, str]:
        """``{"Connection": "close"}`` when this answer should end its connection, else ``{}``."""
        if self.per_connection > 0 and self._random() * self.per_connection < applications:
            return {"Connection": "close"}
        return {}


BODY_TIMEOUT_SECONDS = 5.0
"""How long a body may take to arrive once the request has started (408 after that)."""


async def read_body(
    request: Request, limit: int, *, timeout: float = BODY_TIMEOUT_SECONDS
) -> bytes:
    """The JSON body, refusing another content type (415), more than ``limit`` bytes (413)
    without reading all of it, and a body slower than ``timeout`` seconds (408: e.g. one
    shorter than its ``Content-Length``, which would hold the connection until the server's
    own timeout)."""
    content_type = request.headers.get("content-type")
    if not is_json(content_type):
        raise RequestRejectedError(
            f"Content-Type: {content_type or 'none'} given; the body must be application/json",
            status_code=415,
            details=[{"loc": ["header", "Content-Type"], "msg": "application/json",
                      "type": "unsupported_media_type"}],
        )  # fmt: skip
    try:
        return await BODY_READS.run(_read_limited(request, limit), timeout)
    except DeadlineExceededError:
        raise RequestRejectedError(
            f"the request body did not arrive within {timeout:g} s "
            f"(Content-Length: {request.headers.get('content-length', 'none')})",
            status_code=408,
            details=[{"loc": ["body"], "msg": f"within {timeout:g} s", "type": "body_timeout"}],
        ) from None


async def _read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise RequestRejectedError(
            f"request body of {int(declared):,} bytes exceeds the limit of {limit:,} bytes",
            status_code=413,
            details=[{"loc": [], "msg": f"at most {limit} bytes", "type": "body_too_large"}],
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestRejectedError(
                f"request body exceeds the limit of {limit:,} bytes",
                status_code=413,
                details=[{"loc": [], "msg": f"at most {limit} bytes", "type": "body_too_large"}],
            )
        chunks.append(chunk)
    return b"".join(chunks)


def parse(model: type[M], body: bytes) -> M:
    """Validate JSON bytes strictly; ``RequestRejectedError`` naming each offending field."""
    try:
        parsed = model.model_validate_json(body)
    except ValidationError as exc:
        details = validation_details(exc)
        malformed = any(d["type"] == "json_invalid" for d in details)
        raise RequestRejectedError(
            "malformed JSON body" if malformed else summarise(details),
            status_code=400 if malformed else 422,
            details=details,
        ) from None
    if (key := repeated_key(body, parsed)) is not None:
        raise RequestRejectedError(
            f"malformed JSON body: the key {key!r} appears twice in one object",
            status_code=400,
            details=[{"loc": [key], "msg": "a key may appear once", "type": "duplicate_key"}],
        )
    return parsed


_KINDS = {
    400: "invalid_input",
    404: "not_found",
    405: "invalid_input",
    408: "invalid_input",
    413: "too_large",
    415: "invalid_input",
    422: "invalid_input",
}


async def _loan_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoanError)
    status = exc.status_code
    kind = "paused" if "paused" in str(exc) else _KINDS.get(status, "unavailable")
    if kind != "paused" and status != 404:  # these two count themselves in the scorer
        metrics.ERRORS.labels(kind).inc()
    details = getattr(exc, "details", None)
    if status >= 500:
        logger.warning("%s %s answered %d: %s", request.method, request.url.path, status, exc)
    headers = {"Retry-After": "30"} if status == 503 else None
    if status == 408:  # the rest of the body may still come: do not read it as a request
        headers = {"Connection": "close"}
    return json_response(error_body(str(exc), details), status, headers)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = f"{request.method} {request.url.path}: {exc.detail}"
    return json_response(error_body(message), exc.status_code, exc.headers)


async def _os_error(request: Request, exc: Exception) -> Response:
    logger.error("traffic log write failed, request not answered: %s", exc)
    metrics.ERRORS.labels("unavailable").inc()
    return json_response(
        error_body("the prediction could not be recorded; nothing was scored, retry later"),
        503,
        {"Retry-After": "30"},
    )


async def _unexpected(request: Request, exc: Exception) -> Response:
    given = request.headers.get("x-request-id", "-")
    rid = given if _REQUEST_ID.fullmatch(given) else "-"
    logger.exception("unexpected error (request id %s)", rid)
    metrics.ERRORS.labels("internal").inc()
    return json_response(error_body(f"internal error; see the service log (request id {rid})"), 500)


Handler = Callable[[Request], Awaitable[Response]]


async def error_response(request: Request, exc: Exception) -> Response:
    """The API's error answer for any exception (never a traceback for the client)."""
    if isinstance(exc, LoanError):
        return await _loan_error(request, exc)
    if isinstance(exc, HTTPException):
        return await _http_error(request, exc)
    if isinstance(exc, OSError):
        return await _os_error(request, exc)
    return await _unexpected(request, exc)


class ScoringApp(FastAPI):
    """FastAPI for the OpenAPI page and fallbacks; the API routes are dispatched directly.

    Each route is registered with FastAPI (so BentoML's ``/docs.json`` documents it) and in a
    ``(method, path) -> handler`` table that ``__call__`` serves without FastAPI's request
    machinery (middleware stack, dependency solving): the handlers read the raw body anyway.
    """

    def __init__(self, title: str, description: str) -> None:
        super().__init__(
            title=title,
            description=description,
            version="1",
            docs_url=None,
            redoc_url=None,
            openapi_url=None,
        )
        self.direct: dict[tuple[str, str], Handler] = {}
        self._paths: dict[str, list[str]] = {}
        self._requests: dict[tuple[str, int], Any] = {}  # (route, status) -> counter child
        for exc_class in (LoanError, HTTPException, OSError, Exception):
            self.add_exception_handler(exc_class, error_response)

    def route_direct(self, method: str, path: str, **options: Any) -> Callable[[Handler], Handler]:
        """Register ``handler(request) -> Response`` for OpenAPI and for direct dispatch."""

        def register(handler: Handler) -> Handler:
            self.add_api_route(path, handler, methods=[method], **options)
            self.direct[method, path] = handler
            self._paths.setdefault(path, []).append(method)
            return handler

        return register

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            root: str = scope.get("root_path", "")
            route = path.removeprefix(root)
            handler = self.direct.get((scope["method"], route))
            if handler is None and route in self.paths:
                await self._wrong_method(scope, receive, send, route)
                return
            if handler is not None:
                request = Request(scope, receive)
                try:
                    response = await handler(request)
                except Exception as exc:  # every failure gets the API's error shape
                    response = await error_response(request, exc)
                await response(scope, receive, send)
                self._count(route, response.status_code)
                return
        await super().__call__(scope, receive, send)

    @property
    def paths(self) -> dict[str, list[str]]:
        """Each API path and the methods it answers."""
        return self._paths

    async def _wrong_method(self, scope: Scope, receive: Receive, send: Send, route: str) -> None:
        """405 with ``Allow`` for a known API path called with another method."""
        allowed = ", ".join(sorted(self.paths[route]))
        message = f"{scope['method']} {route}: method not allowed (allowed: {allowed})"
        response = json_response(error_body(message), 405, {"Allow": allowed})
        await response(scope, receive, send)
        self._count(route, 405)

    def _count(self, route: str, status: int) -> None:
        counter = self._requests.get((route, status))
        if counter is None:
            endpoint = route.rsplit("/", 1)[-1]
            counter = self._requests[route, status] = metrics.REQUESTS.labels(endpoint, status)
        counter.inc()


class DirectRoutes:
    """ASGI middleware that hands the API's own routes straight to the :class:`ScoringApp`.

    Registered with ``Service.add_asgi_middleware``, it sits inside BentoML's timeout and
    OpenTelemetry middleware and ahead of its CORS and request-context middleware, its router
    (a dozen routes tried in turn) and the mount of the app. The API's routes need none of
    those: they read raw bodies, answer errors in their own shape and do not use BentoML's
    request context. On calls of ~0.4 ms that chain was a third of a worker's time (measured:
    2,250 -> 2,900-4,400 req/s at concurrency 64, ``docs/serving.md``). Every other path
    (``/livez``, ``/readyz``, ``/metrics``, docs) takes BentoML's chain. With CORS enabled in
    BentoML's configuration every request takes the chain, so no CORS header is ever skipped.

    Args:
        app: the rest of BentoML's chain.
        api: the app whose ``direct`` routes are served here.
    """

    def __init__(self, app: ASGIApp, *, api: ScoringApp) -> None:
        self.app = app
        self.api = api
        self.active = not isinstance(app, CORSMiddleware)
        if not self.active:
            logger.info("CORS is enabled: the API routes take BentoML's full middleware chain")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            self.active
            and scope["type"] == "http"
            and (scope["method"], scope["path"]) in self.api.direct
        ):
            await self.api(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def _inline(schema: dict[str, Any]) -> dict[str, Any]:
    """Resolve ``$defs`` references in place and move units into descriptions."""
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return walk(dict(defs[node["$ref"].rsplit("/", 1)[-1]]))
            out = {k: walk(v) for k, v in node.items()}
            if "unit" in out:
                unit = out.pop("unit")
                out["description"] = f"{out.get('description', '')} Unit: {unit}.".strip()
            return out
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    result: dict[str, Any] = walk(schema)
    return result


def documented(
    request_model: type[BaseModel] | None, response_model: type[BaseModel], **statuses: str
) -> dict[str, Any]:
    """FastAPI route options that document a raw-body route's request and responses."""
    responses: dict[int | str, dict[str, Any]] = {
        200: {"model": response_model, "description": "Success."}
    }
    for code, text in statuses.items():
        responses[int(code.removeprefix("s"))] = {"model": ErrorResponse, "description": text}
    options: dict[str, Any] = {"responses": responses, "response_class": Response}
    if request_model is not None:
        body = _inline(request_model.model_json_schema())
        options["openapi_extra"] = {
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": body}},
            }
        }
    return options
