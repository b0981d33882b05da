"""The decision: approve, refer or decline, from a model's calibrated probability of default.

Each registered model carries its operating policy, a :class:`DecisionPolicy` stored in
``ModelMetadata.decision_policy``: two cuts on the calibrated probability, chosen at training
from the rule configured in ``configs/training.yaml`` (``decision:``; ``training.decision``
applies it) and recorded with what the rule asked for and what it achieved on the data it was
chosen on::

    p <  refer_at              -> approve
    refer_at <= p < decline_at -> refer     (a human underwriter looks at it)
    p >= decline_at            -> decline

The policy is part of what is approved (``loanctl models approve``): serving never overrides
it (the risk bands ``LOW``/``MEDIUM``/``HIGH`` may be overridden per deployment; the decision
may not). A model registered before policies existed has none: it decides by its risk bands
(:meth:`DecisionPolicy.from_risk_bands`: LOW approve, MEDIUM refer, HIGH decline, with
``rule = "risk_bands"``), and the promotion gate ``decision_policy`` refuses to make it
champion.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

Decision = Literal["approve", "refer", "decline"]
"""What the lender does with an application, most favourable first."""
DECISIONS: tuple[Decision, ...] = get_args(Decision)
_DECISION_ARRAY = np.asarray(DECISIONS, dtype=object)

Rule = Literal["target_approval_rate", "max_bad_rate", "fixed", "risk_bands"]
"""How the approve cut was chosen: the share to approve, the highest default rate allowed
among the approved, fixed cuts, or (models without a policy) the risk bands."""


class DecisionPolicy(BaseModel):
    """Approve / refer / decline cuts on the calibrated probability, and how they were chosen."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    refer_at: float = Field(
        ..., ge=0.0, le=1.0, description="P(default) at or above this is not approved."
    )
    decline_at: float = Field(
        ..., ge=0.0, le=1.0, description="P(default) at or above this is declined (>= refer_at)."
    )
    rule: Rule = Field(..., description="The configured rule that chose refer_at.")
    target: dict[str, float] = Field(
        default_factory=dict,
        description="What the rule asked for, e.g. {'approval_rate': 0.75, 'decline_rate': 0.1}.",
    )
    achieved: dict[str, float] = Field(
        default_factory=dict,
        description="On the rows it was chosen on: approval, refer and decline rates, the "
        "observed and expected default rate among the approved, and 'rows'.",
    )
    measured_on: str = Field(
        "", description="Which rows 'achieved' describes (e.g. out-of-fold calibrated)."
    )

    @model_validator(mode="after")
    def _ordered(self) -> DecisionPolicy:
        if self.decline_at < self.refer_at:
            raise ValueError(
                f"decline_at ({self.decline_at}) must not be below refer_at ({self.refer_at})"
            )
        return self

    @classmethod
    def from_risk_bands(cls, medium: float, high: float) -> DecisionPolicy:
        """The policy of a model that recorded none: LOW approve, MEDIUM refer, HIGH decline."""
        return cls(refer_at=medium, decline_at=high, rule="risk_bands",
                   measured_on="not measured: no policy was recorded at training")  # fmt: skip

    @property
    def recorded(self) -> bool:
        """False for the risk-band fallback of a model trained without a policy."""
        return self.rule != "risk_bands"

    def decisions(self, probabilities: np.ndarray) -> np.ndarray:
        """The decision of each probability (vectorised; an object array of strings)."""
        p = np.asarray(probabilities, dtype=np.float64)
        idx = (p >= self.refer_at).astype(np.int8) + (p >= self.decline_at)
        return _DECISION_ARRAY[idx]

    def decision(self, probability: float) -> Decision:
        if probability >= self.decline_at:
            return "decline"
        return "refer" if probability >= self.refer_at else "approve"


def outcome_rates(
    policy: DecisionPolicy, probabilities: np.ndarray, y: np.ndarray | None = None
) -> dict[str, float]:
    """Shares approved, referred and declined, and the default rate among the approved
    (expected from the probabilities; observed when outcomes ``y`` are given)."""
    p = np.asarray(probabilities, dtype=np.float64)
    decided = policy.decisions(p)
    approved = decided == "approve"
    n = max(len(p), 1)
    out = {
        "rows": float(len(p)),
        "approval_rate": float(approved.sum()) / n,
        "refer_rate": float((decided == "refer").sum()) / n,
        "decline_rate": float((decided == "decline").sum()) / n,
        "expected_bad_rate_approved": float(p[approved].mean()) if approved.any() else 0.0,
    }
    if y is not None:
        labels = np.asarray(y, dtype=np.float64)
        out["bad_rate_approved"] = float(labels[approved].mean()) if approved.any() else 0.0
    return out


def legacy_decisions(risk_categories: Any) -> np.ndarray:
    """Decisions of traffic logged before decisions existed: LOW approve, MEDIUM refer, HIGH
    decline (what :meth:`DecisionPolicy.from_risk_bands` decides)."""
    from loan_default.errors import InputError

    mapping = {"LOW": "approve", "MEDIUM": "refer", "HIGH": "decline"}
    try:
        return np.asarray([mapping[str(c)] for c in risk_categories], dtype=object)
    except KeyError as exc:
        raise InputError(f"risk category {exc.args[0]!r} is not one of LOW, MEDIUM, HIGH") from None
