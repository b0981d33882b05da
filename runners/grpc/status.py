"""The platform's errors as gRPC statuses; INVALID_ARGUMENT with field violations.

:func:`mapped` awaits a backend call and ends the RPC with the status its ``LoanError`` maps
to: ``InputError`` -> INVALID_ARGUMENT, ``NotFoundError`` -> NOT_FOUND, ``UnavailableError``
-> UNAVAILABLE, any other ``LoanError`` -> INTERNAL (logged).

The server puts a ``google.rpc.Status`` holding a ``google.rpc.BadRequest`` in the trailing
metadata (``grpc-status-details-bin``), the rich error model every gRPC language decodes
(``grpc_status.rpc_status.from_call`` in Python, ``status.FromError`` in Go,
``StatusProto.fromThrowable`` in Java). Field paths are relative to the request message:
``application.age_days`` for Predict and Explain, ``applications[3].age_days`` for a batch.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Sequence
from typing import Any, NoReturn, TypeVar

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status
from pydantic import ValidationError

from loan_default.errors import InputError, LoanError, NotFoundError, UnavailableError
from loan_default.schema import FIELDS_BY_NAME

logger = logging.getLogger(__name__)
T = TypeVar("T")


def field_path(loc: Sequence[int | str], *, root: str = "application") -> str:
    """A REST error location as a path in the gRPC request message.

    Args:
        loc: e.g. ``["age_days"]``, ``["applications", 3, "age_days"]`` or ``[3, "age_days"]``.
        root: the request's application field: ``application`` (Predict, Explain),
            ``applications`` (PredictBatch: a leading index becomes ``applications[3]``), or
            empty when the request has no application (Feedback: the path is ``loc``).
    """
    parts = list(loc)
    if not root:
        return ".".join(str(p) for p in parts)
    while parts and isinstance(parts[0], str) and parts[0] not in FIELDS_BY_NAME:
        parts.pop(0)  # the REST body's own keys ("applications")
    path = root
    if parts and isinstance(parts[0], int):  # a row index: meaningful only in a batch
        index = parts.pop(0)
        path = f"applications[{index}]" if root == "applications" else root
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def violations_of(error: InputError, *, root: str = "application") -> list[tuple[str, str]]:
    """(field path, description) pairs of a backend's ``InputError``.

    Taken from its ``details`` (a list of REST ``ErrorDetail`` dicts: ``loc``, ``msg``) when it
    has them, else from the pydantic ``ValidationError`` it was raised from; none otherwise.
    """
    details = getattr(error, "details", None)
    if not details and isinstance(error.__cause__, ValidationError):
        details = error.__cause__.errors(include_url=False)
    out = []
    for detail in details or ():
        loc = list(detail.get("loc") or ())
        description = str(detail.get("msg", ""))
        name = next((p for p in reversed(loc) if isinstance(p, str)), "")
        spec = FIELDS_BY_NAME.get(name)
        if spec is not None:
            description += f" (valid: {spec.rule()})"
        out.append((field_path(loc, root=root), description))
    return out


def invalid_argument(
    error: InputError,
    violations: Sequence[tuple[str, str]] | None = None,
    *,
    root: str = "application",
) -> grpc.Status:
    """The status for a rejected request: message plus ``BadRequest`` field violations.

    Args:
        error: the backend's error; its message is the status message.
        violations: (field path, description) pairs; by default :func:`violations_of`.
        root: where the request carries its application(s); see :func:`field_path`.
    """
    found = list(violations) if violations is not None else violations_of(error, root=root)
    message = str(error)
    missing = [f"{path}: {text}" for path, text in found if path.split(".")[-1] not in message]
    if missing:
        message = f"{message}: {'; '.join(missing)}"
    bad_request = error_details_pb2.BadRequest(
        field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field=path, description=text)
            for path, text in found
        ]
    )
    detail = any_pb2.Any()
    detail.Pack(bad_request)
    status = status_pb2.Status(code=code_pb2.INVALID_ARGUMENT, message=message, details=[detail])
    return rpc_status.to_status(status)


async def abort(
    context: grpc.aio.ServicerContext[Any, Any],
    error: LoanError,
    violations: Sequence[tuple[str, str]] | None = None,
    *,
    root: str = "application",
) -> NoReturn:
    """End the call with the status that ``error`` maps to."""
    if isinstance(error, InputError):
        status = invalid_argument(error, violations, root=root)
        await context.abort(status.code, status.details, status.trailing_metadata)
    code = (
        grpc.StatusCode.NOT_FOUND
        if isinstance(error, NotFoundError)
        else grpc.StatusCode.UNAVAILABLE
        if isinstance(error, UnavailableError)
        else grpc.StatusCode.INTERNAL
    )
    await context.abort(code, str(error))


async def mapped(
    context: grpc.aio.ServicerContext[Any, Any], call: Awaitable[T], *, root: str = "application"
) -> T:
    """Await the backend, ending the RPC with the mapped status if it raises a LoanError."""
    try:
        return await call
    except LoanError as error:
        if not isinstance(error, InputError | NotFoundError | UnavailableError):
            logger.error("backend failed: %s", error, exc_info=error)
        await abort(context, error, root=root)
