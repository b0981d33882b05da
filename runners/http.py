"""HTTP plumbing of the API service: bounded body reading, strict parsing, one error shape.

The routes read the raw body and validate it with pydantic-core straight from JSON bytes
(``model_validate_json``: no ``json.loads``, no FastAPI re-validation) and answer with
``orjson``; every failure becomes the API's one error body here. Dispatch and connection
handling are :mod:`runners.routing`, the OpenAPI documentation :mod:`runners.openapi`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any, TypeVar

import orjson
from fastapi import Request
from fastapi.responses import Response
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException

from loan_default.api import error_body, summarise, validation_details
from loan_default.errors import LoanError, RequestRejectedError
from runners import metrics

logger = logging.getLogger(__name__)
M = TypeVar("M", bound=BaseModel)


def json_response(
    body: Any, status_code: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    return Response(orjson.dumps(body), status_code, headers, media_type="application/json")


def request_id(request: Request) -> str:
    """The caller's ``X-Request-ID`` (echoed back), else a new one (128 random bits)."""
    return request.headers.get("x-request-id") or os.urandom(16).hex()


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


async def error_response(request: Request, exc: Exception) -> Response:
    """The API's error answer for any exception (never a traceback for the client)."""
    if isinstance(exc, LoanError):
        return await _loan_error(request, exc)
    if isinstance(exc, HTTPException):
        return await _http_error(request, exc)
    if isinstance(exc, OSError):
        return await _os_error(request, exc)
    return await _unexpected(request, exc)
