"""One object holding a process's security machinery, and the audit events it writes.

:class:`Guard` is built once per process from :class:`SecuritySettings`: the token verifier
(none when authentication is off), the RBAC policy, the audit log of this process's stream,
the pseudonymiser and the record cipher. The transports call :meth:`Guard.authenticate` at
their edge; the serving backend calls :meth:`Guard.authorize` and :meth:`Guard.decisions`
once for both transports. :func:`record_control` writes a model or control change (promotion,
rollback, pause, resume, registration, retraining) to the shared ``control`` stream.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from loan_default.security.audit import AuditLog, CheckpointSigner, inputs_digest
from loan_default.security.rbac import Policy, Principal
from loan_default.security.records import Pseudonymiser, RecordCipher
from loan_default.security.settings import SecuritySettings
from loan_default.security.tokens import TokenVerifier

log = logging.getLogger(__name__)
CONTROL_STREAM = "control"


class Guard:
    """Authentication, authorization and audit for one process.

    Args:
        settings: the security settings.
        stream: the audit stream this process writes (``<host>-w<worker>`` for a worker).
        shared: other processes append to the same stream (the ``control`` stream).
    """

    def __init__(
        self, settings: SecuritySettings, *, stream: str = CONTROL_STREAM, shared: bool = False
    ) -> None:
        self.settings = settings
        self.verifier = TokenVerifier(settings) if settings.auth_enabled else None
        self.policy = Policy.load(settings.rbac_policy)
        self.cipher = RecordCipher.load(settings.data_key_file) if settings.data_key_file else None
        self.audit: AuditLog | None = None
        self.pseudonym: Pseudonymiser | None = None
        if settings.audit_enabled:
            self.pseudonym = Pseudonymiser.load_or_create(settings.pseudonym_key_path)
            self.audit = AuditLog(
                settings.audit_path,
                settings.audit_checkpoint_path,
                stream,
                CheckpointSigner(settings.audit_signing_key_path),
                cipher=self.cipher,
                fsync=settings.audit_fsync,
                checkpoint_every=settings.audit_checkpoint_every,
                shared=shared,
            )
        if (banner := settings.banner()) is not None:
            log.warning("!!! %s !!!", banner)

    def authenticate(self, authorization: str | None) -> Principal:
        """The caller of an ``Authorization`` header (anonymous when authentication is off).

        Raises:
            AuthenticationError: no token, or a token that does not verify (401).
        """
        if self.verifier is None:
            return ANONYMOUS
        return self.verifier.authenticate(authorization)

    def authorize(self, principal: Principal, operation: str) -> None:
        """Raise ``PermissionDeniedError`` (403) naming the permission ``operation`` needs."""
        self.policy.require(principal, operation)

    def public(self, operation: str) -> bool:
        """Whether an operation of the transport edge is open without a token."""
        if operation == "metrics":
            return self.settings.metrics_public
        if operation == "docs":
            return self.settings.docs_public
        return False

    def decision_events(
        self,
        subject: str,
        *,
        endpoint: str,
        model: str,
        applications: Sequence[Mapping[str, Any]],
        results: Sequence[Mapping[str, Any]],
        request_id: str | None = None,
    ) -> list[dict[str, Any]]:
        """One audit entry per decision: who, which model, a digest of the inputs, the output.

        The application and client ids are pseudonymised (``applicant``, ``client``: one
        client's applications can be followed without their key); no other field is kept.
        """
        if self.pseudonym is None:
            return []
        pseudonym = self.pseudonym
        return [
            {
                "event": "decision",
                "subject": subject,
                "endpoint": endpoint,
                "request_id": request_id,
                "prediction_id": result["prediction_id"],
                "model": model,
                "applicant": pseudonym(app.get("application_id")),
                "client": pseudonym(app.get("client_id")),
                "inputs_sha256": inputs_digest(app),
                "default_probability": result["default_probability"],
                "risk_category": result["risk_category"],
                "decision": result["decision"],
            }
            for app, result in zip(applications, results, strict=True)
        ]

    def record(self, events: Sequence[Mapping[str, Any]]) -> None:
        """Append entries to this process's audit stream (before the answer is sent).

        Raises:
            OSError: the audit log could not be written (the caller must not answer).
        """
        if self.audit is not None:
            self.audit.append(events)

    def feedback(self, principal: Principal, receipt: Mapping[str, Any]) -> None:
        """Audit a recorded outcome."""
        if self.audit is not None:
            self.audit.append(
                [
                    {
                        "event": "feedback",
                        "subject": principal.subject,
                        "prediction_id": receipt["prediction_id"],
                        "model": receipt.get("model_version"),
                        "observed_default": receipt["observed_default"],
                    }
                ]
            )

    def close(self) -> None:
        if self.audit is not None:
            self.audit.close()


ANONYMOUS = Principal.anonymous()


def record_control(
    event: str,
    principal: Principal,
    *,
    settings: SecuritySettings | None = None,
    home: Path | None = None,
    **details: Any,
) -> None:
    """Append a model or control change to the ``control`` stream (signed at once).

    Args:
        event: e.g. ``model.promoted``, ``scoring.paused``, ``retraining.triggered``.
        principal: who did it (a token's subject, ``os:<user>``, ``system:monitoring``).
        settings: the security settings (default: from the environment).
        home: the platform home the change was made in, if not the environment's.
        details: what changed (model versions, reason).
    """
    settings = settings or (SecuritySettings(home=home) if home else SecuritySettings())
    if not settings.audit_enabled:
        return
    cipher = RecordCipher.load(settings.data_key_file) if settings.data_key_file else None
    audit = AuditLog(
        settings.audit_path,
        settings.audit_checkpoint_path,
        CONTROL_STREAM,
        CheckpointSigner(settings.audit_signing_key_path),
        cipher=cipher,
        fsync=True,
        shared=True,
    )
    try:
        audit.append([{"event": event, "subject": principal.subject, **details}])
    finally:
        audit.close()
