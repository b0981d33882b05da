"""``loanctl auth`` (development keys and tokens) and ``loanctl audit`` (verify, show).

:func:`cli_principal` is what guarded ``loanctl`` commands call first: the caller is the
subject of ``LOAN_TOKEN`` when set, else the operating-system account with the policy's
``local_roles``; the operation's permission is checked against the policy.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from loan_default.security.rbac import Principal

auth_app = typer.Typer(no_args_is_help=True)
audit_app = typer.Typer(no_args_is_help=True)


def cli_principal(operation: str) -> Principal:
    """The principal running a guarded command, after checking its permission.

    Raises:
        AuthenticationError: ``LOAN_TOKEN`` is set but does not verify.
        PermissionDeniedError: the caller lacks the operation's permission.
    """
    from loan_default.security.rbac import Policy, Principal, acting_as
    from loan_default.security.settings import SecuritySettings
    from loan_default.security.tokens import TokenVerifier

    settings = SecuritySettings()
    policy = Policy.load(settings.rbac_policy)
    token = os.environ.get("LOAN_TOKEN")
    if token:
        principal = TokenVerifier(settings).verify(token)
    else:
        principal = Principal.local_user(policy.local_roles)
    policy.require(principal, operation)
    acting_as(principal)
    return principal


@auth_app.command("dev-keys")
def dev_keys(
    force: Annotated[
        bool, typer.Option("--force", help="Add a new token key (rotation) and data key.")
    ] = False,
) -> None:
    """Create development keys under <home>/security (token, audit, pseudonym, data keys)."""
    from loan_default.security.keys import generate_dev_keys
    from loan_default.security.settings import SecuritySettings

    settings = SecuritySettings()
    keys = generate_dev_keys(settings.security_dir, force=force)
    typer.echo(f"development keys in {settings.security_dir} (mode 0600):")
    for label, path in (
        ("token signing key (ES256)", keys.jwt_private_key),
        ("token verification keys", keys.jwks),
        ("audit checkpoint key (Ed25519)", keys.audit_signing_key),
        ("applicant pseudonym key", keys.pseudonym_key),
        ("data key ring (AES-256-GCM)", keys.data_keys),
    ):
        typer.echo(f"  {label:31} {path.name}")
    typer.echo(f"encrypt traffic and audit records: LOAN_DATA_KEY_FILE={keys.data_keys}")


@auth_app.command("token")
def token(
    role: Annotated[list[str], typer.Option("--role", help="Role to grant (repeatable).")],
    subject: Annotated[str, typer.Option("--subject", help="The token's sub claim.")] = "dev-user",
    ttl: Annotated[int, typer.Option("--ttl", min=1, max=86_400, help="Seconds valid.")] = 3600,
) -> None:
    """Print a bearer token signed with the development key (never for production)."""
    from loan_default.errors import ConfigError
    from loan_default.security.rbac import Policy
    from loan_default.security.settings import SecuritySettings
    from loan_default.security.tokens import mint_token

    settings = SecuritySettings()
    unknown = sorted(set(role) - set(Policy.load(settings.rbac_policy).roles))
    if unknown:
        raise ConfigError(f"--role: unknown role {', '.join(unknown)} (see {settings.rbac_policy})")
    typer.echo(mint_token(settings, subject=subject, roles=role, ttl_seconds=ttl))


def _public_key(path: Path | None) -> object:
    from cryptography.hazmat.primitives import serialization

    from loan_default.errors import ConfigError
    from loan_default.security.keys import load_private_key
    from loan_default.security.settings import SecuritySettings

    if path is not None:
        try:
            return serialization.load_pem_public_key(path.read_bytes())
        except (OSError, ValueError) as exc:
            raise ConfigError(f"--public-key: cannot load {path}: {exc}") from None
    settings = SecuritySettings()
    pub = settings.audit_signing_key_path.with_suffix(".pub.pem")
    if pub.exists():
        return serialization.load_pem_public_key(pub.read_bytes())
    return load_private_key(settings.audit_signing_key_path, what="audit signing key").public_key()


@audit_app.command("verify")
def verify(
    public_key: Annotated[
        Path | None,
        typer.Option("--public-key", help="Ed25519 public key (PEM) the checkpoints must verify "
                     "with (default: the configured signing key's)."),
    ] = None,
) -> None:  # fmt: skip
    """Check the audit trail: every chain, every signed checkpoint. Exit 1 if tampered."""
    from loan_default.security.audit_verify import verify as run_verify
    from loan_default.security.records import RecordCipher
    from loan_default.security.settings import SecuritySettings

    cli_principal("cli.audit.verify")
    settings = SecuritySettings()
    cipher = RecordCipher.load(settings.data_key_file) if settings.data_key_file else None
    report = run_verify(
        settings.audit_path,
        settings.audit_checkpoint_path,
        public_key=_public_key(public_key),  # type: ignore[arg-type]
        cipher=cipher,
    )
    for finding in report.findings:
        typer.echo(f"TAMPERED {finding}")
    verdict = "intact" if report.ok else f"{len(report.findings)} problem(s)"
    typer.echo(
        f"audit trail {verdict}: {report.entries:,} entries in {report.streams} stream(s), "
        f"{report.checkpoints:,} signed checkpoint(s) checked"
    )
    if not report.ok:
        raise typer.Exit(1)


@audit_app.command("show")
def show(
    subject: Annotated[str | None, typer.Option(help="Only this caller (token sub).")] = None,
    model: Annotated[str | None, typer.Option(help="Only this model version or tag.")] = None,
    event: Annotated[
        str | None, typer.Option(help="Only events starting so: decision, model., scoring.")
    ] = None,
    since: Annotated[datetime | None, typer.Option(help="From this time (ISO 8601, UTC).")] = None,
    until: Annotated[datetime | None, typer.Option(help="Before this time.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many (newest last).")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines instead of a table.")] = False,
) -> None:
    """Audit entries filtered by caller, model, event and time."""
    from collections import deque
    from datetime import UTC

    import orjson

    from loan_default.security.audit_verify import entries, select
    from loan_default.security.records import RecordCipher
    from loan_default.security.settings import SecuritySettings

    cli_principal("cli.audit.show")
    settings = SecuritySettings()
    cipher = RecordCipher.load(settings.data_key_file) if settings.data_key_file else None

    def utc(moment: datetime | None) -> datetime | None:
        return moment.replace(tzinfo=UTC) if moment and moment.tzinfo is None else moment

    rows = deque(
        select(entries(settings.audit_path, cipher), subject=subject, model=model, event=event,
               since=utc(since), until=utc(until)),
        maxlen=limit,
    )  # fmt: skip
    for row in rows:
        if as_json:
            typer.echo(orjson.dumps(row).decode())
            continue
        what = row.get("risk_category") or row.get("reason") or ""
        if row.get("event") == "feedback":
            what = f"outcome {row.get('observed_default')}"
        model = str(row.get("model") or "-").removeprefix("loan_default:")
        typer.echo(
            f"{str(row.get('time', ''))[:19]} {row.get('event', ''):17} "
            f"{str(row.get('subject', ''))[:14]:14} {model[:22]:22} {str(what)[:4]}"
        )
