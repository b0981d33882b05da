"""Model governance: approvals, waivers, promotion gates, status, all on the MLflow versions.

Every registered version carries, as MLflow model-version tags:

* ``governance.status``: ``challenger`` (registered), ``approved`` (an approval recorded),
  ``champion`` (serving), ``retired`` (a champion that was replaced);
* ``governance.approvals``: a JSON list of ``{by, role, subject, reason, at}``;
* ``governance.waivers``: a JSON list of ``{gate, by, role, subject, reason, at}``;
* ``governance.gates``: the latest gate evaluation, ``{at, results: [{gate, passed, detail,
  waived}]}``.

Promotion to ``champion`` (:func:`promote`) requires a recorded approval and every gate of
``configs/governance.yaml`` to pass (or, for a waivable gate, a recorded waiver); a refusal
raises :class:`~loan_default.errors.GateRefusedError` naming the first failed gate. Approve,
waive, promote, refuse and roll back are each written to the audit trail
(``record_control``). Training only registers challengers; nothing here is called by the
retraining triggers.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any, Literal

import bentoml

from loan_default.aliases import (
    APPROVALS_TAG,
    BENTO_TAG,
    CHAMPION,
    GATES_TAG,
    MODEL_NAME,
    STATUS_TAG,
    WAIVERS_TAG,
    by_alias,
    client,
)
from loan_default.errors import ConfigError, GateRefusedError, LoanError
from loan_default.security.guard import record_control
from loan_default.security.rbac import Principal, actor
from loan_default.settings import LoanSettings
from loan_default.store import LoadedModel
from training import registry
from training.gates import (
    GateConfig,
    GateResult,
    GovernanceSettings,
    approvals,
    evaluate,
    waivers,
)

__all__ = [
    "GateConfig",
    "GateResult",
    "GovernanceSettings",
    "approvals",
    "approve",
    "check",
    "evaluate",
    "gate_results",
    "promote",
    "rollback",
    "status",
    "waive",
    "waivers",
]

STATUS, APPROVALS, WAIVERS, GATES = STATUS_TAG, APPROVALS_TAG, WAIVERS_TAG, GATES_TAG
Status = Literal["challenger", "approved", "champion", "retired"]

ReasonCheck = Callable[[LoadedModel], str | None]
"""Checks a model's reason codes; returns what is wrong, or None (wired in ``loanctl``)."""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def status(mv: Any, aliases: tuple[str, ...] = ()) -> str:
    """The recorded status (versions registered before governance: from their aliases)."""
    recorded = mv.tags.get(STATUS)
    if recorded:
        return str(recorded)
    return "champion" if CHAMPION in aliases else "challenger"


def _role(principal: Principal, permission: str, settings: LoanSettings | None) -> str:
    from loan_default.security.rbac import Policy
    from loan_default.security.settings import SecuritySettings

    security = SecuritySettings(home=settings.home) if settings else SecuritySettings()
    policy = Policy.load(security.rbac_policy)
    granting = sorted(r for r in principal.roles if permission in policy.roles.get(r, ()))
    return granting[0] if granting else "(authentication off)"


def _entry(by: str, reason: str, permission: str, settings: LoanSettings | None) -> dict[str, Any]:
    if not by.strip() or not reason.strip():
        raise ConfigError("--by and --reason must not be empty")
    who = actor("cli")
    return {"by": by.strip(), "role": _role(who, permission, settings), "subject": who.subject,
            "reason": reason.strip(), "at": _now()}  # fmt: skip


def approve(ref: str, *, by: str, reason: str, settings: LoanSettings | None = None) -> Any:
    """Record an approval of version ``ref`` (status ``approved`` unless it is champion)."""
    c = client(settings)
    mv = registry.find_version(ref, c)
    entry = _entry(by, reason, "models:approve", settings)
    c.set_model_version_tag(MODEL_NAME, mv.version, APPROVALS, json.dumps([*approvals(mv), entry]))
    if status(mv) != "champion":
        c.set_model_version_tag(MODEL_NAME, mv.version, STATUS, "approved")
    _audit("model.approved", mv, settings, by=entry["by"], role=entry["role"], reason=reason)
    return c.get_model_version(MODEL_NAME, mv.version)


def waive(
    ref: str, *, gate: str, by: str, reason: str, settings: LoanSettings | None = None,
    config: GateConfig | None = None,
) -> Any:  # fmt: skip
    """Record a waiver of a waivable gate for version ``ref``."""
    config = config or GateConfig.load()
    if not config.can_waive(gate):
        raise ConfigError(
            f"--gate {gate!r} cannot be waived (waivable: {', '.join(config.waivable)}; "
            "approval, decision_policy and reason_codes never are)"
        )
    c = client(settings)
    mv = registry.find_version(ref, c)
    entry = {"gate": gate, **_entry(by, reason, "models:waive", settings)}
    c.set_model_version_tag(MODEL_NAME, mv.version, WAIVERS, json.dumps([*waivers(mv), entry]))
    _audit("model.gate_waived", mv, settings, gate=gate, by=entry["by"], role=entry["role"],
           reason=reason)  # fmt: skip
    return c.get_model_version(MODEL_NAME, mv.version)


def check(
    ref: str, *, reason_check: ReasonCheck | None = None, settings: LoanSettings | None = None,
    config: GateConfig | None = None, record: bool = True,
) -> tuple[Any, list[GateResult]]:  # fmt: skip
    """Evaluate version ``ref``'s gates (and record the result on the version)."""
    from loan_default.store import load_model

    config = config or GateConfig.load()
    c = client(settings)
    mv = registry.find_version(ref, c)
    tag = mv.tags.get(BENTO_TAG)
    loaded = None
    problem: str | None = None
    try:
        loaded = load_model(str(tag)) if tag else None
    except (LoanError, bentoml.exceptions.NotFound, OSError) as exc:
        problem = f"{tag}: {exc}"
    if loaded is not None and reason_check is not None:
        problem = reason_check(loaded)
    elif loaded is not None:
        problem = "reason codes not checked (no explainer wired)"
    results = evaluate(None if loaded is None else loaded.metadata, mv, config, problem)
    if record:
        value = {"at": _now(), "results": [asdict(r) for r in results]}
        c.set_model_version_tag(MODEL_NAME, mv.version, GATES, json.dumps(value)[:4900])
    return mv, results


def promote(
    ref: str, *, reason_check: ReasonCheck | None = None, settings: LoanSettings | None = None,
    config: GateConfig | None = None,
) -> str:  # fmt: skip
    """Make ``ref`` the champion if approved and every gate passes; returns its Bento tag.

    Raises:
        GateRefusedError: the first failed gate, in one line (the refusal is audited).
    """
    mv, results = check(ref, reason_check=reason_check, settings=settings, config=config)
    failed = [r for r in results if not r.ok]
    if failed:
        first = failed[0]
        _audit("model.promotion_refused", mv, settings, gate=first.gate, detail=first.detail,
               failed=[r.gate for r in failed])  # fmt: skip
        more = f" (and {len(failed) - 1} more: {', '.join(r.gate for r in failed[1:])})"
        raise GateRefusedError(
            f"promotion of {mv.tags.get(BENTO_TAG)} (MLflow v{mv.version}) refused: gate "
            f"{first.gate} failed: {first.detail}" + (more if len(failed) > 1 else "")
        )
    c = client(settings)
    current = by_alias(CHAMPION, c)
    tag = registry.set_champion(str(mv.version), settings)
    c.set_model_version_tag(MODEL_NAME, mv.version, STATUS, "champion")
    if current is not None and current.version != mv.version:
        c.set_model_version_tag(MODEL_NAME, current.version, STATUS, "retired")
    _audit("model.promoted", mv, settings,
           replaced=None if current is None else current.tags.get(BENTO_TAG),
           approvals=[a.get("by") for a in approvals(mv)],
           waived=[r.gate for r in results if r.waived])  # fmt: skip
    return tag


def rollback(settings: LoanSettings | None = None) -> str:
    """Give ``champion`` back to the previous champion (approved when it was promoted)."""
    c = client(settings)
    current = by_alias(CHAMPION, c)
    tag = registry.set_previous_champion(settings)
    back = by_alias(CHAMPION, c)
    assert back is not None
    c.set_model_version_tag(MODEL_NAME, back.version, STATUS, "champion")
    if current is not None and current.version != back.version:
        c.set_model_version_tag(MODEL_NAME, current.version, STATUS, "retired")
    _audit("model.rolled_back", back, settings,
           replaced=None if current is None else current.tags.get(BENTO_TAG),
           approvals=[a.get("by") for a in approvals(back)])  # fmt: skip
    return tag


def _audit(event: str, mv: Any, settings: LoanSettings | None, **details: Any) -> None:
    record_control(event, actor("cli"), model=str(mv.tags.get(BENTO_TAG)),
                   mlflow_version=str(mv.version),
                   home=settings.home if settings is not None else None, **details)  # fmt: skip


def gate_results(mv: Any) -> list[dict[str, Any]]:
    """The latest recorded gate evaluation of a version (empty if never evaluated)."""
    raw = mv.tags.get(GATES)
    if not raw:
        return []
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        return []
    results = value.get("results") if isinstance(value, dict) else None
    return results if isinstance(results, list) else []
