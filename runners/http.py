"""HTTP plumbing of the API service: bounded body reading, strict parsing, one error shape.

The routes read the raw body and validate it with pydantic-core straight from JSON bytes
(``model_validate_json``: no ``json.loads``, no FastAPI re-validation) and answer with
``orjson``; every failure becomes the API's one error body here. Dispatch and connection
handling are :mod:`runners.routing`, the OpenAPI documentation :mod:`runners.openapi`.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from typing import Any, TypeVar

import orjson
from fastapi import Request
from fastapi.responses import Response
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from loan_default.api import error_body, summarise, validation_details
from loan_default.errors import LoanError, RequestRejectedError
from runners import metrics
from runners.deadlines import BODY_READS, DeadlineExceededError
from runners.strict_json import is_json, repeated_key

logger = logging.getLogger(__name__)
M = TypeVar("M", bound=BaseModel)


def json_response(
    body: Any, status_code: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    return Response(orjson.dumps(body), status_code, headers, media_type="application/json")


_HEADERS = "loan_default.headers"
"""The scope key of a request's headers as a dict (made once, by :func:`header`)."""


def header(request: Request, name: bytes) -> str | None:
    """A request header by its lower-case name (the first one if repeated), from one dict per
    request: starlette's ``request.headers`` scans and decodes the header list on every
    lookup (~0.8 us each, three per scoring call)."""
    scope = request.scope
    headers: dict[bytes, bytes] | None = scope.get(_HEADERS)
    if headers is None:
        headers = scope[_HEADERS] = dict(reversed(scope["headers"]))
    value = headers.get(name)
    return None if value is None else value.decode("latin-1")


REQUEST_ID_RULE = "1 to 128 characters among A-Z a-z 0-9 and . _ : / + = @ -"
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:/+=@-]{1,128}")


def request_id(request: Request) -> str:
    """The caller's ``X-Request-ID`` (echoed back and logged with every row), else a new one
    (128 random bits).

    Raises:
        RequestRejectedError: 400 when the header breaks :data:`REQUEST_ID_RULE` (an id copied
            into every logged row must not grow the log or carry control characters).
    """
    given = header(request, b"x-request-id")
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


BODY_TIMEOUT_SECONDS = 5.0
"""How long a body may take to arrive once the request has started (408 after that)."""


async def read_body(
    request: Request, limit: int, *, timeout: float = BODY_TIMEOUT_SECONDS
) -> bytes:
    """The JSON body, refusing another content type (415), more than ``limit`` bytes (413)
    without reading all of it, and a body slower than ``timeout`` seconds (408: e.g. one
    shorter than its ``Content-Length``, which would hold the connection until the server's
    own timeout)."""
    content_type = header(request, b"content-type")
    if not is_json(content_type):
        raise RequestRejectedError(
            f"Content-Type: {content_type or 'none'} given; the body must be application/json",
            status_code=415,
            details=[{"loc": ["header", "Content-Type"], "msg": "application/json",
                      "type": "unsupported_media_type"}],
        )  # fmt: skip
    try:
        with BODY_READS.within(timeout):
            return await _read_limited(request, limit)
    except DeadlineExceededError:
        raise RequestRejectedError(
            f"the request body did not arrive within {timeout:g} s "
            f"(Content-Length: {header(request, b'content-length') or 'none'})",
            status_code=408,
            details=[{"loc": ["body"], "msg": f"within {timeout:g} s", "type": "body_timeout"}],
        ) from None


async def _read_limited(request: Request, limit: int) -> bytes:
    """The body from the ASGI messages (most bodies arrive in one); 413 past ``limit``."""
    declared = header(request, b"content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(f"request body of {int(declared):,} bytes exceeds the limit of "
                         f"{limit:,} bytes", limit)  # fmt: skip
    receive = request.receive
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _too_large(f"request body exceeds the limit of {limit:,} bytes", limit)
        if not message.get("more_body", False):
            if not chunks:
                return chunk
            chunks.append(chunk)
            return b"".join(chunks)
        chunks.append(chunk)


def _too_large(message: str, limit: int) -> RequestRejectedError:
    return RequestRejectedError(
        message,
        status_code=413,
        details=[{"loc": [], "msg": f"at most {limit} bytes", "type": "body_too_large"}],
    )


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
    given = header(request, b"x-request-id") or "-"
    rid = given if _REQUEST_ID.fullmatch(given) else "-"
    logger.exception("unexpected error (request id %s)", rid)
    metrics.ERRORS.labels("internal").inc()
    return json_response(error_body(f"internal error; see the service log (request id {rid})"), 500)


async def error_response(request: Request, exc: Exception) -> Response:
    """The API's error answer for any exception (never a traceback for the client)."""
    if isinstance(exc, LoanError):
        return await _loan_error(request, exc)
    if isinstance(exc, HTTPException):
        return await _http_error(request, exc)
    if isinstance(exc, OSError):
        return await _os_error(request, exc)
    return await _unexpected(request, exc)
