"""Choosing a model's decision policy at training, from the rule in ``configs/training.yaml``.

The approve cut (``refer_at``) comes from one of three rules, on calibrated out-of-fold
probabilities (the scale the service decides on):

* ``target_approval_rate``: approve the ``approval_rate`` share with the lowest risk;
* ``max_bad_rate``: the highest cut whose *observed* default rate among the approved stays at
  or below ``max_bad_rate`` (the expected loss a lender budgets for);
* ``fixed``: ``approve_below`` as configured.

The decline cut declines the riskiest ``decline_rate`` share (``fixed``: ``decline_at``);
between the two cuts an application is referred to an underwriter. A calibrated probability
takes few distinct values (isotonic steps), so a rate is met as closely as the ties allow: the
achieved rates are recorded beside the targets.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from loan_default.decision import DecisionPolicy, outcome_rates


class DecisionRules(BaseModel):
    """The ``decision:`` section of the training config."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rule: Literal["target_approval_rate", "max_bad_rate", "fixed"] = Field(
        "target_approval_rate", description="How the approve cut is chosen (module docstring)."
    )
    approval_rate: float = Field(
        0.75, gt=0.0, lt=1.0, description="target_approval_rate: share of applicants approved."
    )
    max_bad_rate: float = Field(
        0.04, gt=0.0, lt=1.0, description="max_bad_rate: highest default rate among approved."
    )
    decline_rate: float = Field(
        0.10, ge=0.0, lt=1.0, description="Share declined (the riskiest); 0: refer, never decline."
    )
    approve_below: float | None = Field(None, gt=0.0, lt=1.0, description="fixed: approve cut.")
    decline_at: float | None = Field(None, gt=0.0, le=1.0, description="fixed: decline cut.")

    @model_validator(mode="after")
    def _fixed(self) -> DecisionRules:
        if self.rule == "fixed":
            if self.approve_below is None or self.decline_at is None:
                raise ValueError("rule fixed needs approve_below and decline_at")
            if self.decline_at < self.approve_below:
                raise ValueError("decline_at must not be below approve_below")
        return self

    def target(self) -> dict[str, float]:
        if self.rule == "fixed":
            assert self.approve_below is not None and self.decline_at is not None
            return {"approve_below": self.approve_below, "decline_at": self.decline_at}
        first = {"target_approval_rate": ("approval_rate", self.approval_rate),
                 "max_bad_rate": ("max_bad_rate", self.max_bad_rate)}[self.rule]  # fmt: skip
        return {first[0]: first[1], "decline_rate": self.decline_rate}


def _share_cut(sorted_p: np.ndarray, share: float) -> float:
    """The cut ``c`` such that ``p < c`` holds about ``share`` of the rows (ties kept whole)."""
    k = int(np.ceil(share * len(sorted_p)))
    return 1.0 if k >= len(sorted_p) else float(sorted_p[k])


def _bad_rate_cut(p: np.ndarray, y: np.ndarray, max_bad_rate: float) -> float:
    """The largest cut whose approved rows (``p < cut``) default at most ``max_bad_rate``."""
    values = np.unique(p)
    order = np.argsort(p, kind="stable")
    bads = np.concatenate([[0.0], np.cumsum(y[order])])
    counts = np.searchsorted(p[order], values, side="left")  # rows strictly below each value
    candidates = [1.0, *values[::-1].tolist()]
    below = [len(p), *counts[::-1].tolist()]
    for cut, n in zip(candidates, below, strict=True):
        if n == 0 or bads[n] / n <= max_bad_rate:
            return float(cut)
    return float(values[0])  # nothing approved


def choose_policy(
    probabilities: np.ndarray, y: np.ndarray, rules: DecisionRules, *, measured_on: str
) -> DecisionPolicy:
    """The policy ``rules`` pick on calibrated probabilities with outcomes ``y``."""
    p = np.asarray(probabilities, dtype=np.float64)
    labels = np.asarray(y, dtype=np.float64)
    sorted_p = np.sort(p)
    if rules.rule == "fixed":
        assert rules.approve_below is not None and rules.decline_at is not None
        refer_at, decline_at = rules.approve_below, rules.decline_at
    else:
        if rules.rule == "target_approval_rate":
            refer_at = _share_cut(sorted_p, rules.approval_rate)
        else:
            refer_at = _bad_rate_cut(p, labels, rules.max_bad_rate)
        decline_at = 1.0 if rules.decline_rate == 0 else _share_cut(
            sorted_p, 1.0 - rules.decline_rate
        )  # fmt: skip
        decline_at = max(decline_at, refer_at)
    policy = DecisionPolicy(refer_at=refer_at, decline_at=decline_at, rule=rules.rule,
                            target=rules.target(), measured_on=measured_on)  # fmt: skip
    return policy.model_copy(update={"achieved": outcome_rates(policy, p, labels)})
