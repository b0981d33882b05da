"""``loanctl models list|approve|waive|check|promote|rollback``: the governed registry.

Wiring, because the promotion gate on reason codes runs the serving explainer
(:mod:`runners.explainer`) on the model, which ``training`` may not import. Who runs a command
is :func:`loan_default.security.cli.cli_principal`: the subject and roles of ``LOAN_TOKEN``
when set, else the operating-system account with the policy's ``local_roles``; the command's
permission (``configs/rbac.yaml``) is checked before anything changes, and the role that
granted it is recorded with each approval or waiver.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from loan_default.store import LoadedModel
    from training.registry import RegisteredModel

_REACH = (
    "services that follow the champion switch to it within a few seconds (LOAN_RELOAD_SECONDS, "
    "check /v1/metadata); a service pinned by tag (LOAN_MODEL_TAG, or a Bento built with "
    "--arg model_tag) keeps its model: redeploy it to change models"
)
_SAMPLE = 20
"""Generated applications the reason-code gate explains."""

Version = Annotated[str, typer.Argument(help="MLflow version number, alias or Bento tag.")]
By = Annotated[str, typer.Option("--by", help="Your name, as it should stand in the record.")]
Reason = Annotated[str, typer.Option("--reason", help="Why (recorded and audited).")]


def reason_check(loaded: LoadedModel) -> str | None:
    """What is wrong with the model's reason codes, or None.

    Every field the model scores (derived features folded into their source fields) must have
    its adverse-action statements (``configs/reasons.yaml``, the serving setting
    ``LOAN_REASONS_PATH``; :func:`loan_default.reasons.validate_reason_codes`), and the
    explainer run on generated applications must give reasons with non-empty text.
    """
    from loan_default.data.generate import generate_applications
    from loan_default.errors import ConfigError
    from loan_default.reasons import reason_codes, validate_reason_codes
    from loan_default.schema import frame_to_records
    from runners.explainer import ExplainerCore
    from runners.settings import ServingSettings

    try:
        codes = reason_codes(ServingSettings().reasons_path)
    except ConfigError as exc:
        return str(exc)
    if problems := validate_reason_codes(loaded.model.feature_names, codes):
        shown = "; ".join(problems[:2]) + (
            f" and {len(problems) - 2} more" if len(problems) > 2 else ""
        )
        return shown
    frame = generate_applications(_SAMPLE, seed=0).drop(columns=["default"])
    answers = ExplainerCore(loaded, codes).explain(frame_to_records(frame))
    given = [r for a in answers for r in a["reasons"]]
    if not given:
        return f"the explainer gave no reason for any of {_SAMPLE} generated applications"
    bad = [r for r in given if not str(r.get("reason", "")).strip()]
    if bad:
        return f"the explainer gave an empty reason for {bad[0].get('feature')!r}"
    return None


def approve(version: Version, by: By, reason: Reason) -> None:
    """Record your approval of VERSION (role with models:approve, e.g. model-risk)."""
    from loan_default.security.cli import cli_principal
    from training import governance

    cli_principal("cli.models.approve")
    mv = governance.approve(version, by=by, reason=reason)
    entry = governance.approvals(mv)[-1]
    typer.echo(f"approved MLflow v{mv.version} ({mv.tags.get('bento_tag')}) by {entry['by']} "
               f"as {entry['role']}; status {governance.status(mv)}")  # fmt: skip


def waive(
    version: Version,
    gate: Annotated[str, typer.Option("--gate", help="The gate, e.g. fairness.age_band.")],
    by: By,
    reason: Reason,
) -> None:
    """Record a waiver of a failed waivable gate (e.g. fairness.<attribute>) for VERSION."""
    from loan_default.security.cli import cli_principal
    from training import governance

    cli_principal("cli.models.waive")
    mv = governance.waive(version, gate=gate, by=by, reason=reason)
    typer.echo(f"gate {gate} waived for MLflow v{mv.version} by {by}: {reason}")


def check(version: Version) -> None:
    """Evaluate VERSION's promotion gates and record the result; exit 3 if one fails."""
    from loan_default.security.cli import cli_principal
    from training import governance

    cli_principal("cli.models.promote")
    _, results = governance.check(version, reason_check=reason_check)
    for r in results:
        mark = "pass" if r.passed else ("WAIVED" if r.waived else "FAIL")
        typer.echo(f"{mark:6} {r.gate}: {r.detail}" + (f" [{r.waived}]" if r.waived else ""))
    if not all(r.ok for r in results):
        raise typer.Exit(3)


def promote(version: Version) -> None:
    """Make VERSION the champion: needs a recorded approval and every gate passing."""
    from loan_default.security.cli import cli_principal
    from training import governance

    cli_principal("cli.models.promote")
    typer.echo(f"champion is now {governance.promote(version, reason_check=reason_check)}")
    typer.echo(_REACH)


def rollback() -> None:
    """Give the champion alias back to the previous champion (approved when promoted)."""
    from loan_default.security.cli import cli_principal
    from training import governance

    cli_principal("cli.models.rollback")
    typer.echo(f"champion is now {governance.rollback()}")
    typer.echo(_REACH)


def list_models(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document for tools.")] = False,
) -> None:
    """Every version: status, approvals, gates, AUC, worst AIR and lineage."""
    from loan_default.console import console, print_table
    from loan_default.settings import LoanSettings
    from training.registry import list_models as rows

    found = rows()
    if as_json:
        typer.echo(json.dumps([asdict(r) for r in found], indent=1, default=str))
        return
    if not found:
        typer.echo(
            f"no models registered under LOAN_HOME={LoanSettings().home}; train one with "
            "`loanctl train --data FILE`"
        )
        return
    wide = console().width >= 170
    if wide:
        head = ["MLflow", "status", "Bento tag", "created (UTC)", "AUC", "min AIR",
                "approved by", "gates", "data hash", "run"]  # fmt: skip
        caption = "AUC: hold-out when kept, else CV mean; min AIR: worst adverse impact ratio"
    else:
        head = ["MLflow", "status", "Bento version", "AUC", "AIR", "appr", "gates"]
        caption = ("Bento tag = loan_default:<Bento version>; AUC hold-out (else CV); AIR "
                   "worst adverse impact ratio; appr: approvals; gates * waived; a wider "
                   "terminal adds names, data hash and run; `--json` has everything")  # fmt: skip
    print_table(head, (_cells(r, wide) for r in found), caption=caption,
                keep={"MLflow", "status", "Bento tag", "Bento version", "AUC", "AIR", "appr",
                      "min AIR",
                      "gates", "data", "data hash"})  # fmt: skip


def _gates(row: RegisteredModel, wide: bool) -> str:
    if not row.gates:
        return "not checked" if wide else "-"
    failed = [g["gate"] for g in row.gates if not g.get("passed") and not g.get("waived")]
    waived = [g["gate"] for g in row.gates if not g.get("passed") and g.get("waived")]
    if not wide:
        return f"FAIL {len(failed)}" if failed else "pass" + ("*" if waived else "")
    text = "pass" if not failed else "fail: " + ", ".join(failed)
    return text + (f" (waived: {', '.join(waived)})" if waived else "")


def _cells(row: RegisteredModel, wide: bool) -> list[str]:
    status = row.status
    if "champion" in row.aliases and status != "champion":
        status += " (champion alias)"
    if wide:
        return [
            row.mlflow_version or "-", status,
            (row.bento_tag or "-") + ("" if row.in_bento_store else " (not in store)"),
            row.created.replace("T", " ")[:16], _num(row.roc_auc), _num(row.min_air),
            ", ".join(str(a.get("by")) for a in row.approvals) or "-", _gates(row, wide),
            (row.data_hash or "-")[:8], (row.run_id or "-")[:12],
        ]  # fmt: skip
    version = "-" if row.bento_tag is None else (row.bento_tag.partition(":")[2] or row.bento_tag)
    return [
        row.mlflow_version or "-", status,
        version + ("" if row.in_bento_store else " (not in store)"),
        _num(row.roc_auc), _num(row.min_air), str(len(row.approvals)), _gates(row, wide),
    ]  # fmt: skip


def _num(value: Any) -> str:
    return "-" if value is None else f"{value:.3f}"


def register(models: typer.Typer) -> None:
    """Add the governance commands to the ``loanctl models`` group."""
    models.command("list")(list_models)
    models.command("approve")(approve)
    models.command("waive")(waive)
    models.command("check")(check)
    models.command("promote")(promote)
    models.command("rollback")(rollback)
