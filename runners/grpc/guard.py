"""Every gRPC failure a documented status: malformed and unknown input, and the unexpected.

Left alone, grpc.aio answers a request it cannot parse, and any exception a method lets out,
with ``UNKNOWN`` and the exception's text (``Unexpected <class 'DecodeError'>: ...``), and
silently drops fields it does not know. Here:

* a request that is not a valid protobuf message of its type -> ``INVALID_ARGUMENT``;
* a request carrying fields its message type does not have (a client built from another
  version of the proto, a typo in a JSON transcoder) -> ``INVALID_ARGUMENT`` naming them, as
  REST refuses unknown keys;
* a ``LoanError`` a method lets out -> its mapped status (``runners.grpc.status``);
* anything else -> ``INTERNAL`` with "internal error (error id ...)" and no internals; the
  service log has the traceback under that id.

The check for unknown fields costs one ``DiscardUnknownFields`` and one ``ByteSize`` in C: the
message is re-measured without them and compared with the bytes received; only when the sizes
differ is it walked to name the fields.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import grpc
from google.protobuf.message import DecodeError, Message
from google.protobuf.unknown_fields import UnknownFieldSet

from loan_default.errors import LoanError
from runners.grpc.status import abort

logger = logging.getLogger(__name__)
S = TypeVar("S")
R = TypeVar("R")
Method = Callable[[S, Any, Any], Awaitable[R]]


class Refused:
    """What the lenient deserializer hands the method instead of a message it refuses."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


def unknown_fields(message: Message, path: str = "") -> list[str]:
    """``path.field number`` of every unknown field in ``message`` and its sub-messages."""
    found = [
        f"{path or message.DESCRIPTOR.name}: field number {u.field_number}"
        for u in UnknownFieldSet(message)  # type: ignore[attr-defined]
    ]
    for descriptor, value in message.ListFields():
        if descriptor.message_type is None:
            continue
        name = f"{path}.{descriptor.name}" if path else descriptor.name
        if isinstance(value, Sequence):  # a repeated message field
            for i, item in enumerate(value):
                found.extend(unknown_fields(item, f"{name}[{i}]"))
        else:
            found.extend(unknown_fields(value, name))
    return found


def lenient(message_type: type[Message]) -> Callable[[bytes], Message | Refused]:
    """A request deserializer that never raises: a :class:`Refused` for bad input."""
    name = message_type.DESCRIPTOR.full_name

    def parse(raw: bytes) -> Message | Refused:
        try:
            message = message_type.FromString(raw)
        except (DecodeError, RuntimeError, ValueError):
            return Refused(f"the request is not a valid {name} message")
        message.DiscardUnknownFields()
        if message.ByteSize() != len(raw):  # either unknown fields or a non-canonical encoding
            unknown = unknown_fields(message_type.FromString(raw))
            if unknown:
                return Refused(
                    f"unknown fields in {name} (not in this service's proto; unknown fields "
                    f"are refused as REST refuses unknown keys): {'; '.join(unknown[:5])}"
                )
        return message

    return parse


def guarded(method: Method[S, R]) -> Method[S, R]:
    """Decorate a servicer method: refused input and any failure end with a documented status."""

    @functools.wraps(method)
    async def wrapper(self: S, request: Any, context: Any) -> R:
        if isinstance(request, Refused):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.reason)
        try:
            return await method(self, request, context)
        except grpc.aio.AbortError:
            raise
        except LoanError as error:
            await abort(context, error)
        except Exception:
            error_id = os.urandom(6).hex()
            logger.exception("gRPC %s failed (error id %s)", method.__name__, error_id)
            await context.abort(
                grpc.StatusCode.INTERNAL,
                f"internal error (error id {error_id}); the service log has the details",
            )
        raise AssertionError("unreachable: context.abort raises")

    return wrapper
