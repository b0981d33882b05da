"""One small error hierarchy for the whole platform.

Each error carries the HTTP status the service answers with and the exit code the CLI ends
with. Messages name the field, file or value at fault, so a client or an operator can act on
them without reading a traceback.
"""

from __future__ import annotations

from typing import Any


class LoanError(Exception):
    """Base class: a failure the platform anticipates and explains."""

    status_code: int = 500
    exit_code: int = 1


class InputError(LoanError):
    """The caller's input is wrong: a file, a config, a request. HTTP 400 / exit 2."""

    status_code = 400
    exit_code = 2


class DataValidationError(InputError):
    """A data set failed validation beyond the allowed share of bad rows."""


class ConfigError(InputError):
    """A configuration file or option is invalid."""


class RequestRejectedError(InputError):
    """A request the API refuses, with its HTTP status (422 by default: fields that break the
    schema's rules) and the offending inputs (``details``: ``loc``, ``msg``, ``type`` each).
    gRPC answers it INVALID_ARGUMENT with each detail as a field violation."""

    def __init__(
        self, message: str, *, status_code: int = 422, details: list[dict[str, Any]] | None = None
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.details = details or []


class NotFoundError(LoanError):
    """A model, prediction or file that was asked for does not exist. HTTP 404 / exit 2."""

    status_code = 404
    exit_code = 2


class UnavailableError(LoanError):
    """The service cannot score now (no model ready, paused by an operator). HTTP 503."""

    status_code = 503
    exit_code = 1


class RecordingError(UnavailableError):
    """An answer could not be recorded (traffic log, prediction index): it is not given.

    HTTP 503 with ``Retry-After``, gRPC ``UNAVAILABLE``: the caller retries later.
    """


class PauseFileError(UnavailableError):
    """The pause file exists but cannot be read: scoring refuses. HTTP 503 / exit 2."""

    exit_code = 2


class AuthenticationError(LoanError):
    """No credentials, or credentials that do not prove who the caller is. HTTP 401.

    The message says what is wrong with the token (expired, wrong audience, ...) and never
    contains the token itself.
    """

    status_code = 401
    exit_code = 2


class PermissionDeniedError(LoanError):
    """An authenticated caller lacks the permission an operation needs. HTTP 403.

    Attributes:
        permission: the missing permission, e.g. ``predict`` or ``audit:read``.
    """

    status_code = 403
    exit_code = 2

    def __init__(self, message: str, *, permission: str) -> None:
        super().__init__(message)
        self.permission = permission


class IntegrityError(LoanError):
    """A stored artifact does not match the digest recorded when it was registered.

    The model is refused before anything is unpickled (a tampered pickle can run code).
    """

    status_code = 503
    exit_code = 1


class GateRefusedError(LoanError):
    """Promotion to champion refused: an approval is missing or a governance gate failed
    (exit code 3, apart from bad input's 2)."""

    status_code = 409
    exit_code = 3
