"""The model registry: MLflow registered model ``loan_default`` plus the Bento model store.

Each MLflow version carries the tag ``bento_tag=loan_default:<version>`` (the same model in the
Bento store, whose metadata holds the MLflow version back). Aliases replace stages:

* ``challenger``: set by every training run (training never promotes);
* ``champion``: moved by :func:`set_champion`, which only ``training.governance.promote``
  calls, after the approval and the gates (``loanctl models promote``); the service and the
  monitoring resolve it with :func:`resolve_alias`;
* ``previous-champion``: the champion a promotion replaced, so :func:`set_previous_champion`
  (``loanctl models rollback``) can return.

Each version also carries the governance tags (``loan_default.aliases.STATUS_TAG`` ...):
registration sets ``governance.status = challenger``.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from typing import Any

import bentoml
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from loan_default.aliases import (
    APPROVALS_TAG,
    BENTO_TAG,
    CHALLENGER,
    CHAMPION,
    GATES_TAG,
    MODEL_NAME,
    PREVIOUS,
    STATUS_TAG,
    WAIVERS_TAG,
    client,
)
from loan_default.aliases import by_alias as _by_alias
from loan_default.aliases import resolve_alias as resolve_alias  # re-exported
from loan_default.errors import NotFoundError
from loan_default.fairness import FairnessRow, verdicts
from loan_default.settings import LoanSettings
from loan_default.store import BENTO_MODEL_NAME
from loan_default.training_metrics import TrainingMetrics

KEY_METRICS = ("roc_auc_mean", "roc_auc_std", "gini_mean", "ks_mean", "brier_mean",
               "calibration_brier", "holdout_roc_auc")  # fmt: skip
"""Metrics a registered version carries as ``metric.<name>`` tags (and in its description)."""


def version_description(
    *, champion: str, algorithm: str, metrics: dict[str, float], data_hash: str, rows: int,
    source: str, reason: str | None, bento_tag: str,
) -> str:  # fmt: skip
    """The Markdown description of a registered version: what it is and how good it was."""
    shown = [f"| {name} | {metrics[name]:.4f} |" for name in KEY_METRICS if name in metrics]
    return "\n".join([
        f"**{champion}** ({algorithm}), calibrated probability of default.",
        "",
        f"Trained on {rows:,} rows (source `{source}`, data hash `{data_hash[:12]}`) for: "
        f"{reason or 'manual'}. Served as Bento model `{bento_tag}`.",
        "",
        "| metric (5-fold CV unless hold-out) | value |",
        "|---|---|",
        *shown,
    ])  # fmt: skip


def register(
    model_uri: str,
    *,
    run_id: str,
    bento_tag: str,
    mlflow_client: MlflowClient,
    description: str | None = None,
    metrics: dict[str, float] | None = None,
) -> str:
    """Register a logged model as a new version, tag it and make it the ``challenger``.

    Args:
        description: the version's Markdown description (:func:`version_description`).
        metrics: the key ones (:data:`KEY_METRICS`) become ``metric.<name>`` version tags.
    """
    try:
        mlflow_client.get_registered_model(MODEL_NAME)
    except MlflowException:
        mlflow_client.create_registered_model(
            MODEL_NAME, description="Probability of loan default (calibrated); see README."
        )
    tags = {BENTO_TAG: bento_tag, STATUS_TAG: "challenger"}
    tags |= {f"metric.{k}": f"{v:.6g}" for k, v in (metrics or {}).items() if k in KEY_METRICS}
    # A tracking server checks that a ``models:/m-<id>`` source names its LoggedModel (the
    # local SQLite store does not): pass the id along.
    model_id = model_uri.removeprefix("models:/") if model_uri.startswith("models:/m-") else None
    mv = mlflow_client.create_model_version(
        MODEL_NAME,
        source=model_uri,
        run_id=run_id,
        tags=tags,
        description=description,
        model_id=model_id,
    )
    mlflow_client.set_registered_model_alias(MODEL_NAME, CHALLENGER, mv.version)
    return str(mv.version)


def find_version(ref: str, mlflow_client: MlflowClient) -> Any:
    """A version by MLflow number, alias, Bento tag or Bento version; ``NotFoundError``."""
    if ref.isdigit():
        try:
            return mlflow_client.get_model_version(MODEL_NAME, ref)
        except MlflowException:
            raise NotFoundError(f"model {MODEL_NAME!r} has no version {ref}") from None
    if (mv := _by_alias(ref, mlflow_client)) is not None:
        return mv
    tag = ref if ":" in ref else f"{BENTO_MODEL_NAME}:{ref}"
    found = mlflow_client.search_model_versions(
        f"name = '{MODEL_NAME}' and tags.{BENTO_TAG} = '{tag}'"
    )
    if not found:
        raise NotFoundError(
            f"no registered version {ref!r} (an MLflow version number, alias or Bento tag)"
        )
    return found[0]


def set_champion(ref: str, settings: LoanSettings | None = None) -> str:
    """Move the ``champion`` alias to version ``ref`` (the replaced champion becomes
    previous-champion); returns its Bento tag.

    The bare alias move: no approval, gate or audit. ``training.governance.promote`` (``loanctl
    models promote``) checks and audits, then calls this; tests use it to set up a registry.
    """
    c = client(settings)
    mv = find_version(ref, c)
    current = _by_alias(CHAMPION, c)
    if current is not None and current.version != mv.version:
        c.set_registered_model_alias(MODEL_NAME, PREVIOUS, current.version)
    c.set_registered_model_alias(MODEL_NAME, CHAMPION, mv.version)
    return str(mv.tags.get(BENTO_TAG))


def set_previous_champion(settings: LoanSettings | None = None) -> str:
    """Give ``champion`` back to the previous champion (the two swap); returns its Bento tag.

    The bare alias swap; ``training.governance.rollback`` audits it."""
    c = client(settings)
    previous = _by_alias(PREVIOUS, c)
    if previous is None:
        raise NotFoundError(f"model {MODEL_NAME!r} has no {PREVIOUS!r} alias to roll back to")
    current = _by_alias(CHAMPION, c)
    c.set_registered_model_alias(MODEL_NAME, CHAMPION, previous.version)
    if current is not None and current.version != previous.version:
        c.set_registered_model_alias(MODEL_NAME, PREVIOUS, current.version)
    return str(previous.tags.get(BENTO_TAG))


@dataclass(frozen=True, slots=True)
class RegisteredModel:
    """One row of ``loanctl models list``: an MLflow version and its Bento model."""

    mlflow_version: str | None
    aliases: tuple[str, ...]
    bento_tag: str | None
    created: str
    roc_auc: float | None
    data_hash: str | None
    in_bento_store: bool
    status: str = "-"
    """challenger | approved | champion | retired (``-``: only in the Bento store)."""
    approvals: tuple[dict[str, Any], ...] = ()
    waivers: tuple[dict[str, Any], ...] = ()
    gates: tuple[dict[str, Any], ...] = ()
    """The latest recorded gate evaluation (``governance.gates``); empty if never checked."""
    run_id: str | None = None
    holdout_auc: float | None = None
    min_air: float | None = None
    """The worst adverse impact ratio at the decision over the protected attributes."""
    decision_rule: str | None = None
    data_source: str | None = None


def _row(
    mv: Any | None, tag: str | None, bento: Any | None, aliases: tuple[str, ...] = ()
) -> RegisteredModel:
    meta: dict[str, Any] = dict(bento.info.metadata) if bento is not None else {}
    metrics = TrainingMetrics.model_validate(meta.get("training_metrics") or {})
    auc = metrics.baseline("roc_auc")
    created = str(meta.get("created_at", ""))[:19]
    if not created and mv is not None:
        created = _ms(mv.creation_timestamp)
    airs = [v.min_air for v in verdicts([FairnessRow.model_validate(r)
                                         for r in meta.get("fairness") or []])
            if v.min_air is not None]  # fmt: skip
    policy = meta.get("decision_policy") or {}
    governance = _governance(mv, aliases)
    return RegisteredModel(
        mlflow_version=None if mv is None else str(mv.version),
        aliases=aliases,
        bento_tag=tag,
        created=created,
        roc_auc=None if auc is None else float(auc),
        data_hash=None if meta.get("data_hash") is None else str(meta["data_hash"]),
        in_bento_store=bento is not None,
        **governance,
        run_id=meta.get("mlflow_run_id") or (None if mv is None else mv.run_id),
        holdout_auc=metrics.holdout.get("roc_auc"),
        min_air=min(airs) if airs else None,
        decision_rule=policy.get("rule") if policy else None,
        data_source=meta.get("data_source"),
    )


def _governance(mv: Any | None, aliases: tuple[str, ...]) -> dict[str, Any]:
    if mv is None:
        return {}

    def listed(tag: str) -> tuple[dict[str, Any], ...]:
        try:
            value = json.loads(mv.tags.get(tag) or "[]")
        except json.JSONDecodeError:
            return ()
        if isinstance(value, dict):
            value = value.get("results", [])
        return tuple(v for v in value if isinstance(v, dict)) if isinstance(value, list) else ()

    recorded = mv.tags.get(STATUS_TAG)
    status = str(recorded) if recorded else ("champion" if CHAMPION in aliases else "challenger")
    return {"status": status, "approvals": listed(APPROVALS_TAG),
            "waivers": listed(WAIVERS_TAG), "gates": listed(GATES_TAG)}  # fmt: skip


def bento_models() -> list[Any]:
    """The ``loan_default`` models of the Bento store (none: an empty list, not an error)."""
    try:
        return list(bentoml.models.list(BENTO_MODEL_NAME))
    except bentoml.exceptions.NotFound:
        return []


def list_models(settings: LoanSettings | None = None) -> list[RegisteredModel]:
    """Both stores side by side, newest first; models present in only one store included."""
    c = client(settings)
    versions: list[Any] = []
    by_version: dict[str, list[str]] = {}
    with contextlib.suppress(MlflowException):
        versions = list(c.search_model_versions(f"name = '{MODEL_NAME}'"))
        # search_model_versions leaves aliases empty: the registered model holds them.
        for alias, number in c.get_registered_model(MODEL_NAME).aliases.items():
            by_version.setdefault(str(number), []).append(alias)
    bentos = {str(m.tag): m for m in bento_models()}
    rows = []
    for mv in versions:  # versions may share a Bento model (a re-registration)
        tag = mv.tags.get(BENTO_TAG)
        aliases = tuple(sorted(by_version.get(str(mv.version), [])))
        rows.append(_row(mv, tag, bentos.get(tag) if tag else None, aliases))
    registered = {mv.tags.get(BENTO_TAG) for mv in versions}
    rows.extend(_row(None, tag, bento) for tag, bento in bentos.items() if tag not in registered)
    return sorted(rows, key=lambda r: r.created, reverse=True)


def _ms(timestamp: int | None) -> str:
    from datetime import UTC, datetime

    if timestamp is None:
        return ""
    return datetime.fromtimestamp(timestamp / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S")
