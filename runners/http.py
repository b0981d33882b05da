"""HTTP plumbing of the API service: bounded body reading, strict parsing, one error shape.

The routes read the raw body and validate it with pydantic-core straight from JSON bytes
(``model_validate_json``: no ``json.loads``, no FastAPI re-validation), answer with ``orjson``
and document their bodies through ``openapi_extra``/``responses``, so the OpenAPI page shows
every field while the hot path stays lean (docs/serving.md has the numbers).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException
from starlette.types import Receive, Scope, Send

from loan_default.api import ErrorResponse, error_body, summarise, validation_details
from loan_default.errors import InputError, LoanError
from runners import metrics

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


def request_id(request: Request) -> str:
    """The caller's ``X-Request-ID`` (echoed back), else a new one."""
    return request.headers.get("x-request-id") or uuid.uuid4().hex


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refusing more than ``limit`` bytes (413) without reading all of it."""
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
        return model.model_validate_json(body)
    except ValidationError as exc:
        details = validation_details(exc)
        malformed = any(d["type"] == "json_invalid" for d in details)
        raise RequestRejectedError(
            "malformed JSON body" if malformed else summarise(details),
            status_code=400 if malformed else 422,
            details=details,
        ) from None


_KINDS = {400: "invalid_input", 404: "not_found", 413: "too_large", 422: "invalid_input"}


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
    return json_response(error_body(str(exc), details), status, headers)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = f"{request.method} {request.url.path}: {exc.detail}"
    return json_response(error_body(message), exc.status_code, exc.headers)


async def _os_error(request: Request, exc: Exception) -> Response:
    logger.error("traffic log write failed, request not answered: %s", exc)
    metrics.ERRORS.labels("unavailable").inc()
    return json_response(
        error_body("the prediction could not be recorded; nothing was scored, retry later"), 503
    )


async def _unexpected(request: Request, exc: Exception) -> Response:
    rid = request.headers.get("x-request-id", "-")
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
        for exc_class in (LoanError, HTTPException, OSError, Exception):
            self.add_exception_handler(exc_class, error_response)

    def route_direct(self, method: str, path: str, **options: Any) -> Callable[[Handler], Handler]:
        """Register ``handler(request) -> Response`` for OpenAPI and for direct dispatch."""

        def register(handler: Handler) -> Handler:
            self.add_api_route(path, handler, methods=[method], **options)
            self.direct[method, path] = handler
            return handler

        return register

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            root: str = scope.get("root_path", "")
            handler = self.direct.get((scope["method"], path.removeprefix(root)))
            if handler is not None:
                request = Request(scope, receive)
                try:
                    response = await handler(request)
                except Exception as exc:  # every failure gets the API's error shape
                    response = await error_response(request, exc)
                await response(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


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
