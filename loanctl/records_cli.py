"""``loanctl lineage``, ``loanctl privacy export|erase|retention`` and ``loanctl report
compliance``: the records of model governance (issue 11), wired across the layers.

Each command checks its permission first (``configs/rbac.yaml``); the privacy commands and
the retention audit what they did with a keyed hash of the applicant id, never the id.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from loan_default.security.records import RecordCipher
    from loan_default.security.settings import SecuritySettings

privacy_app = typer.Typer(no_args_is_help=True)
report_app = typer.Typer(no_args_is_help=True)

APPLICANT = typer.Option("--applicant", help="The applicant's application_id (or client_id).")


def lineage(
    prediction_id: Annotated[str, typer.Argument(help="The prediction_id of an answer.")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object.")] = False,
) -> None:
    """Trace one prediction to its model, MLflow run, data, code commit and approvals."""
    from loan_default.security.cli import cli_principal
    from loanctl.lineage import trace

    cli_principal("cli.lineage")
    found = trace(prediction_id)
    if as_json:
        typer.echo(json.dumps(found.as_dict(), indent=1))
        return
    width = max(len(label) for label, _ in found.items)
    typer.echo(f"prediction {prediction_id}")
    for label, value in found.items:
        typer.echo(f"  {label:<{width}}  {value}")
    if not found.approvals:
        typer.echo(f"  {'approvals':<{width}}  not recorded")
    for a in found.approvals:
        typer.echo(f"  {'approval':<{width}}  {a.get('by')} ({a.get('role')}) at {a.get('at')}: "
                   f"{a.get('reason')}")  # fmt: skip


def _paths() -> tuple[Path, Path, Path, Path]:
    """(traffic folder, sidecar state, quarantine file, home)."""
    from monitoring.settings import MonitorSettings

    s = MonitorSettings()
    return s.traffic_path, s.state_db, s.quarantine_path, s.home


def _pseudonym(applicant: str) -> str | None:
    from loan_default.security.records import Pseudonymiser
    from loan_default.security.settings import SecuritySettings

    settings = SecuritySettings()
    if not settings.audit_enabled:
        return None
    return Pseudonymiser.load_or_create(settings.pseudonym_key_path)(applicant)


@privacy_app.command("export")
def export(
    applicant: Annotated[str, APPLICANT],
    out: Annotated[Path | None, typer.Option("--out", help="JSON file to write.")] = None,
) -> None:
    """Write every record held about an applicant to one JSON file (data portability)."""
    from loan_default.security.cli import cli_principal
    from loan_default.security.guard import record_control
    from monitoring.privacy import find

    principal = cli_principal("cli.privacy.export")
    traffic, state_db, quarantine, home = _paths()
    found = find(traffic, state_db, quarantine, applicant)
    pseudonym = _pseudonym(applicant)
    path = out or home / "privacy" / f"export-{pseudonym or 'applicant'}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(found.export(), indent=1, default=str))
    path.chmod(0o600)
    record_control("privacy.exported", principal, applicant=pseudonym, records=found.total)
    typer.echo(f"{found.total:,} record(s) of the applicant ({len(found.predictions):,} "
               f"prediction(s), {len(found.feedback):,} outcome(s)) written to {path}")  # fmt: skip


@privacy_app.command("erase")
def erase(applicant: Annotated[str, APPLICANT]) -> None:
    """Erase an applicant's records from the traffic and feedback logs and the monitoring state
    (the audit trail keeps only a keyed hash of the id); the erasure is audited."""
    from loan_default.security.cli import cli_principal
    from loan_default.security.guard import record_control
    from monitoring.privacy import erase as do_erase

    principal = cli_principal("cli.privacy.erase")
    traffic, state_db, quarantine, _ = _paths()
    done = do_erase(traffic, state_db, quarantine, applicant)
    record_control("privacy.erased", principal, applicant=_pseudonym(applicant),
                   predictions=done.predictions, feedback=done.feedback,
                   state_rows=done.state_rows, quarantined=done.quarantined,
                   files=done.files)  # fmt: skip
    typer.echo(f"erased {done.predictions:,} prediction(s), {done.feedback:,} outcome(s), "
               f"{done.state_rows:,} monitoring row(s) and {done.quarantined:,} quarantined "
               f"line(s) in {done.files:,} file(s); the erasure is audited")  # fmt: skip


@privacy_app.command("retention")
def retention(
    apply: Annotated[bool, typer.Option("--apply", help="Delete (default: only list).")] = False,
) -> None:
    """List (or, with --apply, delete) records past their configured retention."""
    from loan_default.security.cli import cli_principal
    from monitoring.retention import Targets, enforce
    from monitoring.settings import MonitoringConfig, MonitorSettings

    principal = cli_principal("cli.privacy.retention")
    settings = MonitorSettings()
    config = MonitoringConfig.load(settings.monitor_config).retention
    outcome = enforce(Targets.of(settings), config, now=datetime.now(UTC), dry_run=not apply,
                      principal=principal)  # fmt: skip
    verb = "deleted" if apply else "would delete"
    for kind, item in outcome.deleted:
        typer.echo(f"{verb} {kind} {item}")
    for kind, item, why in outcome.held:
        typer.echo(f"held {kind} {item}: {why}")
    typer.echo(f"retention ({'applied' if apply else 'dry run'}): {len(outcome.deleted)} "
               f"item(s) {verb}, {len(outcome.held)} held")  # fmt: skip


def _moment(text: str, option: str, *, end: bool) -> datetime:
    from loan_default.errors import InputError

    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(f"{option}: {text!r} is not a date (YYYY-MM-DD) or ISO time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if end and len(text) == 10:  # a date: through the end of that day
        moment += timedelta(days=1)
    return moment


@report_app.command("compliance")
def compliance(
    start: Annotated[str, typer.Option("--from", help="First day (YYYY-MM-DD, UTC).")],
    end: Annotated[str, typer.Option("--to", help="Last day, included (YYYY-MM-DD, UTC).")],
    out: Annotated[Path | None, typer.Option("--out", help="Folder (default <home>/reports).")]
    = None,
) -> None:  # fmt: skip
    """Decisions, approval rates and adverse impact at the decision, drift and performance,
    model changes and approvals, and the audit chain's verification, for a period."""
    from loan_default.errors import InputError
    from loan_default.security.cli import cli_principal
    from loan_default.security.records import RecordCipher
    from loan_default.security.settings import SecuritySettings
    from monitoring import compliance_report
    from monitoring.compliance import build
    from monitoring.settings import MonitoringConfig, MonitorSettings

    cli_principal("cli.report.compliance")
    first, last = _moment(start, "--from", end=False), _moment(end, "--to", end=True)
    if last <= first:
        raise InputError(f"--to {end} is before --from {start}")
    settings, security = MonitorSettings(), SecuritySettings()
    cipher = RecordCipher.load(security.data_key_file) if security.data_key_file else None
    audit_ok, summary, events = _audit(security, cipher, first, last)
    result = build(traffic=settings.traffic_path, reports=settings.reports_path, events=events,
                   start=first, end=last,
                   fairness=MonitoringConfig.load(settings.monitor_config).fairness,
                   audit_ok=audit_ok, audit_summary=summary)  # fmt: skip
    md, html = compliance_report.write(result, out or settings.home / "reports")
    typer.echo(f"compliance report: {md}")
    typer.echo(f"compliance report: {html}")
    if audit_ok is False:
        typer.echo("warning: the audit trail failed verification (see the report)", err=True)


def _audit(
    security: SecuritySettings, cipher: RecordCipher | None, first: datetime, last: datetime
) -> tuple[bool | None, str, list[dict[str, Any]]]:
    """(verified?, what was checked, the period's entries) of the audit trail."""
    from loan_default.errors import ConfigError
    from loan_default.security.audit_verify import entries, select, verify
    from loan_default.security.cli import _public_key

    if not security.audit_enabled:
        return None, "the audit trail is disabled (LOAN_AUDIT_ENABLED=false)", []
    if not any(security.audit_path.glob("*.jsonl")) if security.audit_path.exists() else True:
        return None, f"no audit entries under {security.audit_path}", []
    try:
        public_key = _public_key(None)
        unsigned = ""
    except ConfigError as exc:
        public_key, unsigned = None, f" (checkpoint signatures NOT checked: {exc})"
    report = verify(security.audit_path, security.audit_checkpoint_path,
                    public_key=public_key, cipher=cipher)  # type: ignore[arg-type]  # fmt: skip
    found = "no problem found" if report.ok else "; ".join(str(f) for f in report.findings[:5])
    summary = (f"{report.entries:,} entries in {report.streams} stream(s), "
               f"{report.checkpoints:,} signed checkpoint(s): {found}{unsigned}")  # fmt: skip
    events = list(select(entries(security.audit_path, cipher), since=first, until=last))
    return report.ok, summary, events


def register(app: typer.Typer) -> None:
    """Add the governance record commands to ``loanctl``."""
    app.command("lineage")(lineage)
    app.add_typer(privacy_app, name="privacy", help="Data subject rights and retention.")
    app.add_typer(report_app, name="report", help="Compliance reports.")
