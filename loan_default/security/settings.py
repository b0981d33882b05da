"""Security settings of every process: authentication, TLS, bind address, keys, audit.

All fields read ``LOAN_*`` environment variables (or ``.env``), like the other settings
classes. Keys and secrets are given as *files* (mode 0600), never as values in the environment,
so they do not show up in ``ps``, crash reports or logs. Unset key files fall back to the
development keys that ``loanctl auth dev-keys`` writes under ``<home>/security/``.

Refusing unsafe configurations is the point of this class: authentication can be switched off
only together with ``LOAN_ENVIRONMENT=development``, and TLS needs both certificate and key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from loan_default.errors import ConfigError
from loan_default.settings import LoanSettings

_CONFIGS = Path(__file__).resolve().parents[2] / "configs"

DEV_JWT_PRIVATE_KEY = "jwt-dev-private.pem"
"""The development token signing key (ES256), under ``<home>/security/``."""
DEV_JWKS = "jwks.json"
"""The public keys tokens are verified with, under ``<home>/security/``."""
AUDIT_SIGNING_KEY = "audit-signing.pem"
"""Ed25519 key that signs the audit checkpoints, under ``<home>/security/``."""
PSEUDONYM_KEY = "pseudonym.key"
"""Key of the keyed hash that replaces applicant ids in the audit log."""
DATA_KEYS = "data-keys.json"
"""The AES-256-GCM key ring written by ``loanctl auth dev-keys``."""


class SecuritySettings(LoanSettings):
    """Who may call, over what channel, and how decisions are recorded."""

    environment: Literal["development", "production"] = Field(
        "production",
        description="``development`` is the only environment in which authentication may be "
        "off (``LOAN_AUTH_MODE=off``); the service then says so at start-up and in /readyz.",
    )
    auth_mode: Literal["jwt", "off"] = Field(
        "jwt",
        description="``jwt``: every API call needs a bearer token; ``off``: nobody is "
        "asked (development only).",
    )
    jwt_secret_file: Path | None = Field(
        None, description="File holding an HS256 shared secret (at least 32 bytes)."
    )
    jwt_public_key_file: Path | None = Field(
        None, description="PEM public key: RSA (RS256) or EC P-256 (ES256)."
    )
    jwks_file: Path | None = Field(
        None,
        description="JWKS file of verification keys chosen by ``kid`` (re-read when it "
        "changes, so keys rotate without a restart). Default: <home>/security/jwks.json "
        "when no other key is configured and that file exists.",
    )
    jwt_issuer: str = Field("loan-default-dev", description="Required ``iss`` claim.")
    jwt_audience: str = Field("loan-default-api", description="Required ``aud`` claim.")
    jwt_leeway_seconds: int = Field(
        30, ge=0, le=300, description="Clock skew tolerated on ``exp``, ``nbf`` and ``iat``."
    )
    jwt_required_claims: list[str] = Field(
        default_factory=lambda: ["exp", "iat", "sub", "iss", "aud"],
        description="Claims every token must carry.",
    )
    jwt_roles_claim: str = Field("roles", description="Claim holding the caller's roles.")
    rbac_policy: Path = Field(
        _CONFIGS / "rbac.yaml", description="Roles -> permissions, operations -> permission."
    )
    metrics_public: bool = Field(
        True, description="/metrics readable without a token (for a Prometheus on the host)."
    )
    docs_public: bool = Field(
        False, description="The OpenAPI document (/docs.json) and page readable without a token."
    )
    bind_host: str = Field(
        "127.0.0.1",
        description="Interface both transports listen on (REST and gRPC): loopback by "
        "default, ``0.0.0.0`` in a container.",
    )
    tls_cert_file: Path | None = Field(None, description="PEM certificate chain: enables TLS.")
    tls_key_file: Path | None = Field(None, description="PEM private key of the certificate.")
    tls_client_ca_file: Path | None = Field(
        None, description="PEM CA bundle: clients must present a certificate it signed (mTLS)."
    )
    data_key_file: Path | None = Field(
        None,
        description="AES-256-GCM key ring (JSON: ``current`` key id, ``keys`` id -> base64): "
        "traffic and audit records are encrypted when set.",
    )
    pseudonym_key_file: Path | None = Field(
        None,
        description="Key of the applicant-id pseudonyms in the audit log "
        "(default <home>/security/pseudonym.key, created on first use).",
    )
    audit_enabled: bool = Field(True, description="Write the audit trail.")
    audit_dir: Path | None = Field(None, description="Audit log folder (default <home>/audit).")
    audit_checkpoint_dir: Path | None = Field(
        None,
        description="Signed checkpoints, kept apart from the log (default "
        "<home>/audit-checkpoints; put it on another volume in production).",
    )
    audit_signing_key_file: Path | None = Field(
        None,
        description="Ed25519 private key signing the checkpoints (default "
        "<home>/security/audit-signing.pem, created on first use).",
    )
    audit_checkpoint_every: int = Field(
        1000, ge=1, description="A signed checkpoint after this many entries of one writer."
    )
    audit_fsync: bool = Field(
        False, description="fsync the audit log before answering (like LOAN_TRAFFIC_FSYNC)."
    )

    @model_validator(mode="after")
    def _refuse_unsafe(self) -> SecuritySettings:
        if self.auth_mode == "off" and self.environment != "development":
            raise ConfigError(
                "LOAN_AUTH_MODE=off is refused outside development: set LOAN_ENVIRONMENT="
                "development to serve without authentication, or configure a key "
                "(LOAN_JWKS_FILE, LOAN_JWT_PUBLIC_KEY_FILE, LOAN_JWT_SECRET_FILE)"
            )
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ConfigError("LOAN_TLS_CERT_FILE and LOAN_TLS_KEY_FILE must be set together")
        if self.tls_client_ca_file is not None and self.tls_cert_file is None:
            raise ConfigError("LOAN_TLS_CLIENT_CA_FILE needs LOAN_TLS_CERT_FILE/LOAN_TLS_KEY_FILE")
        return self

    @property
    def auth_enabled(self) -> bool:
        return self.auth_mode == "jwt"

    @property
    def tls_enabled(self) -> bool:
        return self.tls_cert_file is not None

    @property
    def security_dir(self) -> Path:
        """Where development keys and generated keys live."""
        return self.home / "security"

    @property
    def audit_path(self) -> Path:
        return self.audit_dir or self.home / "audit"

    @property
    def audit_checkpoint_path(self) -> Path:
        return self.audit_checkpoint_dir or self.home / "audit-checkpoints"

    @property
    def audit_signing_key_path(self) -> Path:
        return self.audit_signing_key_file or self.security_dir / AUDIT_SIGNING_KEY

    @property
    def pseudonym_key_path(self) -> Path:
        return self.pseudonym_key_file or self.security_dir / PSEUDONYM_KEY

    @property
    def dev_jwt_private_key_path(self) -> Path:
        return self.security_dir / DEV_JWT_PRIVATE_KEY

    def verification_sources(self) -> tuple[Path | None, Path | None, Path | None]:
        """(secret file, public key file, JWKS file), with the development JWKS as default."""
        jwks = self.jwks_file
        if jwks is None and self.jwt_secret_file is None and self.jwt_public_key_file is None:
            default = self.security_dir / DEV_JWKS
            jwks = default if default.exists() else None
        return self.jwt_secret_file, self.jwt_public_key_file, jwks

    def banner(self) -> str | None:
        """The loud start-up warning of an unauthenticated development service, else None."""
        if self.auth_enabled:
            return None
        return (
            "AUTHENTICATION IS OFF (LOAN_AUTH_MODE=off, LOAN_ENVIRONMENT=development): anyone "
            "who can reach this service may score, read the model and record outcomes"
        )
