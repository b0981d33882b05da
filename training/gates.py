"""Promotion gates (``configs/governance.yaml``): what a version must pass to become champion.

:func:`evaluate` judges one version from its metadata (metrics, decision policy, fairness at
the decision), its recorded approvals and waivers, and the reason-code check
(``loanctl.models_cli.reason_check``); ``training.governance`` records and enforces the result.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_settings import SettingsConfigDict

from loan_default.aliases import APPROVALS_TAG, WAIVERS_TAG
from loan_default.errors import ConfigError
from loan_default.fairness import verdicts
from loan_default.settings import LoanSettings
from loan_default.store import ModelMetadata

APPROVALS, WAIVERS = APPROVALS_TAG, WAIVERS_TAG
_CONFIGS = Path(__file__).resolve().parents[1] / "configs"


class GovernanceSettings(LoanSettings):
    """Where the promotion gates are configured (``LOAN_GOVERNANCE_CONFIG``)."""

    model_config = SettingsConfigDict(env_prefix="LOAN_", env_file=".env", extra="ignore")

    governance_config: Path = Field(
        _CONFIGS / "governance.yaml", description="Promotion gates and approvals (YAML)."
    )


class GateConfig(BaseModel):
    """``configs/governance.yaml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    approvals_required: int = Field(1, ge=1, description="Approvals before promotion.")
    min_cv_auc: float = Field(0.70, ge=0.5, le=1.0, description="Mean CV ROC AUC at least.")
    min_holdout_auc: float = Field(0.70, ge=0.5, le=1.0, description="Hold-out ROC AUC at least.")
    max_calibration_error: float = Field(
        0.03, gt=0.0, le=1.0, description="Hold-out expected calibration error at most."
    )
    min_adverse_impact_ratio: float = Field(
        0.8, gt=0.0, le=1.0, description="Every protected attribute's worst AIR at least."
    )
    waivable: list[str] = Field(
        default_factory=lambda: ["fairness"],
        description="Gates (or gate prefixes: 'fairness' covers fairness.<attribute>) that a "
        "recorded waiver may set aside. approval, decision_policy and reason_codes never are.",
    )

    @classmethod
    def load(cls, path: str | Path | None = None) -> GateConfig:
        path = Path(path) if path else GovernanceSettings().governance_config
        try:
            return cls.model_validate(yaml.safe_load(path.read_text()) or {})
        except OSError as exc:
            raise ConfigError(f"governance config {path}: {exc.strerror}") from None
        except (yaml.YAMLError, ValidationError) as exc:
            raise ConfigError(f"governance config {path}: {exc}") from None

    def can_waive(self, gate: str) -> bool:
        never = gate in ("approval", "decision_policy", "reason_codes")
        return not never and any(gate == w or gate.startswith(f"{w}.") for w in self.waivable)


@dataclass(frozen=True)
class GateResult:
    gate: str
    passed: bool
    detail: str
    waived: str | None = None
    """Who waived it and why, when a waiver sets a failure aside."""

    @property
    def ok(self) -> bool:
        return self.passed or self.waived is not None


def _json_list(mv: Any, tag: str) -> list[dict[str, Any]]:
    raw = mv.tags.get(tag)
    if not raw:
        return []
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        raise ConfigError(f"model version {mv.version}: tag {tag} is not JSON") from None
    return value if isinstance(value, list) else []


def approvals(mv: Any) -> list[dict[str, Any]]:
    return _json_list(mv, APPROVALS)


def waivers(mv: Any) -> list[dict[str, Any]]:
    return _json_list(mv, WAIVERS)


def evaluate(
    meta: ModelMetadata | None,
    mv: Any,
    config: GateConfig,
    reason_problem: str | None,
) -> list[GateResult]:
    """Every gate, in order: approval, decision policy, CV AUC, hold-out AUC, calibration
    error, fairness per attribute, reason codes."""
    out: list[GateResult] = []
    given = approvals(mv)
    out.append(GateResult("approval", len(given) >= config.approvals_required,
                          f"{len(given)} approval(s) recorded, {config.approvals_required} "
                          "required"))  # fmt: skip
    if meta is None:
        out.append(GateResult("model", False, "the Bento model is not in the store"))
        return _apply_waivers(out, mv)
    out.append(GateResult("decision_policy", meta.decision_policy is not None,
                          "recorded" if meta.decision_policy else "no decision policy recorded "
                          "(model trained before policies): retrain it"))  # fmt: skip
    cv = meta.training_metrics.cv.get("roc_auc")
    out.append(_at_least("cv_auc", None if cv is None else cv.mean, config.min_cv_auc))
    holdout = meta.training_metrics.holdout
    out.append(_at_least("holdout_auc", holdout.get("roc_auc"), config.min_holdout_auc))
    ece = holdout.get("calibration_error")
    out.append(GateResult(
        "calibration_error", ece is not None and ece <= config.max_calibration_error,
        "not measured (no hold-out)" if ece is None
        else f"{ece:.4f} (at most {config.max_calibration_error})",
    ))  # fmt: skip
    found = verdicts(meta.fairness)
    if not found:
        out.append(GateResult("fairness", False, "no fairness measured at the decision"))
    for v in found:
        air = v.min_air
        detail = ("not measured (no eligible group)" if air is None else
                  f"min adverse impact ratio {air:.3f} (at least "
                  f"{config.min_adverse_impact_ratio}; reference {v.reference_group})")  # fmt: skip
        out.append(
            GateResult(
                f"fairness.{v.attribute}",
                air is not None and air >= config.min_adverse_impact_ratio,
                detail,
            )
        )
    out.append(GateResult("reason_codes", reason_problem is None,
                          reason_problem or "every model feature has a reason; explanations "
                          "give valid reasons"))  # fmt: skip
    return _apply_waivers(out, mv, config)


def _at_least(gate: str, value: float | None, minimum: float) -> GateResult:
    if value is None:
        return GateResult(gate, False, "not measured")
    return GateResult(gate, value >= minimum, f"{value:.4f} (at least {minimum})")


def _apply_waivers(
    results: list[GateResult], mv: Any, config: GateConfig | None = None
) -> list[GateResult]:
    config = config or GateConfig()
    given = {w["gate"]: w for w in waivers(mv) if "gate" in w}
    out = []
    for r in results:
        w = given.get(r.gate)
        if not r.passed and w is not None and config.can_waive(r.gate):
            r = GateResult(r.gate, False, r.detail, f"waived by {w['by']} ({w['role']}): "
                           f"{w['reason']}")  # fmt: skip
        out.append(r)
    return out
