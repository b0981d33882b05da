"""Fairness at the decision, per protected attribute and group (training and the registry).

The favourable outcome is ``approve``; ``refer`` and ``decline`` are not approvals. For each
attribute (gender, education and an age band derived from ``age_days`` by default) and each of
its groups, one :class:`FairnessRow`:

* ``approval_rate``: share of the group approved;
* ``adverse_impact_ratio`` (AIR): the group's approval rate over the *most favoured* group's
  (the eligible group with the highest approval rate). Four-fifths rule: AIR < 0.8 is a flag;
* ``tpr`` / ``fpr`` (outcomes known): share of the group's defaulters / repayers *not*
  approved (the model's "positive" is "not approved"); their largest gap between eligible
  groups is the equal-opportunity / equalised-odds screen;
* ``predicted_default_rate``: mean calibrated P(default) of the group, and the brief's
  ``disparate_impact``: that rate over the whole population's default rate.

Groups smaller than ``min_group_size`` are reported (``small``) but never flagged nor used as
the reference; a missing attribute value is its own group, ``missing``. The monitoring
sidecar screens its windows the same way (``monitoring.fairness``).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from loan_default.errors import InputError
from loan_default.schema import DAYS_PER_YEAR

AGE_BAND = "age_band"
MISSING_GROUP = "missing"


class FairnessRules(BaseModel):
    """Which attributes are screened and when a group is flagged."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    attributes: list[str] = Field(
        default_factory=lambda: ["client_gender", "client_education", AGE_BAND],
        description="Canonical columns, or 'age_band' (derived from age_days).",
    )
    age_band_edges: list[float] = Field(
        default_factory=lambda: [25.0, 35.0, 45.0, 55.0, 65.0],
        description="Ages in years where a new band starts: <25, 25-34, ..., 65+.",
    )
    min_group_size: int = Field(100, ge=1, description="Smaller groups are not flagged.")
    air_threshold: float = Field(0.8, gt=0, le=1, description="Four-fifths rule.")
    max_rate_gap: float = Field(0.1, gt=0, le=1, description="Largest TPR/FPR gap allowed.")


class FairnessRow(BaseModel):
    """One group of one protected attribute, at the model's decision."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    attribute: str
    group: str
    n: int = Field(..., ge=0, description="Rows of the group.")
    approval_rate: float
    adverse_impact_ratio: float | None = Field(
        None, description="Approval rate / the most favoured eligible group's."
    )
    tpr: float | None = Field(None, description="P(not approved | defaulted); needs outcomes.")
    fpr: float | None = Field(None, description="P(not approved | repaid); needs outcomes.")
    predicted_default_rate: float | None = Field(
        None, description="Mean calibrated P(default) of the group."
    )
    disparate_impact: float | None = Field(
        None, description="predicted_default_rate / the population's default rate (the brief's)."
    )
    small: bool = Field(False, description="n < min_group_size: reported, never flagged.")


class AttributeVerdict(BaseModel):
    """One attribute's screen: worst AIR, gaps, and whether it is flagged."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    attribute: str
    reference_group: str | None
    min_air: float | None
    approval_gap: float | None
    tpr_gap: float | None
    fpr_gap: float | None
    flagged_groups: list[str]
    flagged: bool


def age_bands(age_days: pd.Series, edges: Sequence[float]) -> pd.Series:
    """Age band labels (``<25``, ``25-34``, ..., ``65+``) from ages in days."""
    years = pd.to_numeric(age_days, errors="coerce") / DAYS_PER_YEAR
    cuts = sorted(edges)
    labels = [f"<{cuts[0]:g}"]
    labels += [f"{lo:g}-{hi - 1:g}" for lo, hi in itertools.pairwise(cuts)]
    labels.append(f"{cuts[-1]:g}+")
    index = np.searchsorted(cuts, years.to_numpy(), side="right")
    out = pd.Series(
        np.asarray(labels, dtype=object)[np.minimum(index, len(cuts))], index=years.index
    )
    return out.where(years.notna(), MISSING_GROUP)


def attribute_groups(
    frame: pd.DataFrame, attribute: str, edges: Sequence[float] | None = None
) -> pd.Series:
    """The group of each row for ``attribute`` (``age_band`` derived from ``age_days``)."""
    if attribute == AGE_BAND:
        if "age_days" not in frame.columns:
            raise InputError("fairness attribute 'age_band' needs the column age_days")
        edges = edges if edges is not None else FairnessRules().age_band_edges
        return age_bands(frame["age_days"], edges).rename(AGE_BAND)
    if attribute not in frame.columns:
        raise InputError(f"fairness attribute {attribute!r} is not a column of the frame")
    values = frame[attribute].astype("object")
    return values.where(values.notna(), MISSING_GROUP).astype(str).rename(attribute)


def _rate(mask: np.ndarray, among: np.ndarray) -> float | None:
    total = int(among.sum())
    return float((mask & among).sum()) / total if total else None


def fairness_rows(
    frame: pd.DataFrame,
    decisions: np.ndarray,
    probabilities: np.ndarray | None = None,
    y: np.ndarray | None = None,
    rules: FairnessRules | None = None,
) -> list[FairnessRow]:
    """One :class:`FairnessRow` per attribute and group (see the module docstring).

    Raises:
        InputError: lengths differ, or an attribute column is absent.
    """
    rules = rules or FairnessRules()
    decided = np.asarray(decisions, dtype=object)
    if len(decided) != len(frame):
        raise InputError(f"{len(decided)} decisions but the frame has {len(frame)} rows")
    approved = decided == "approve"
    p = None if probabilities is None else np.asarray(probabilities, dtype=np.float64)
    labels = None if y is None else np.asarray(y, dtype=np.float64)
    overall = None
    if labels is not None and len(labels) and labels.mean() > 0:
        overall = float(labels.mean())
    elif p is not None and len(p):
        overall = float(p.mean()) or None
    rows: list[FairnessRow] = []
    for attribute in rules.attributes:
        groups = attribute_groups(frame, attribute, rules.age_band_edges).to_numpy()
        names = sorted(set(groups.tolist()))
        stats = []
        for name in names:
            member = groups == name
            n = int(member.sum())
            rate = float(approved[member].mean()) if n else 0.0
            stats.append((name, member, n, rate))
        eligible = [rate for _, _, n, rate in stats if n >= rules.min_group_size]
        best = max(eligible) if eligible else None
        for name, member, n, rate in stats:
            pdr = float(p[member].mean()) if p is not None and n else None
            rows.append(
                FairnessRow(
                    attribute=attribute, group=str(name), n=n, approval_rate=rate,
                    adverse_impact_ratio=rate / best if best else None,
                    tpr=None if labels is None else _rate(~approved, member & (labels == 1)),
                    fpr=None if labels is None else _rate(~approved, member & (labels == 0)),
                    predicted_default_rate=pdr,
                    disparate_impact=pdr / overall if pdr is not None and overall else None,
                    small=n < rules.min_group_size,
                )
            )  # fmt: skip
    return rows


def _gap(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return max(present) - min(present) if len(present) >= 2 else None


def verdicts(rows: Sequence[FairnessRow], rules: FairnessRules | None = None) -> list[
    AttributeVerdict
]:  # fmt: skip
    """Per attribute (in the order of ``rows``): worst AIR, gaps and flags."""
    rules = rules or FairnessRules()
    out = []
    for attribute in dict.fromkeys(r.attribute for r in rows):
        mine = [r for r in rows if r.attribute == attribute]
        big = [r for r in mine if not r.small]
        airs = [r.adverse_impact_ratio for r in big if r.adverse_impact_ratio is not None]
        reference = max(big, key=lambda r: r.approval_rate).group if big else None
        flagged_groups = [r.group for r in big if r.adverse_impact_ratio is not None
                          and r.adverse_impact_ratio < rules.air_threshold]  # fmt: skip
        tpr_gap, fpr_gap = _gap([r.tpr for r in big]), _gap([r.fpr for r in big])
        gap_flag = any(g is not None and g > rules.max_rate_gap for g in (tpr_gap, fpr_gap))
        out.append(
            AttributeVerdict(
                attribute=attribute, reference_group=reference,
                min_air=min(airs) if airs else None,
                approval_gap=_gap([r.approval_rate for r in big]),
                tpr_gap=tpr_gap, fpr_gap=fpr_gap, flagged_groups=flagged_groups,
                flagged=bool(flagged_groups) or gap_flag,
            )
        )  # fmt: skip
    return out


def fairness_metrics(rows: Sequence[FairnessRow], prefix: str = "fairness") -> dict[str, float]:
    """Flat numbers for MLflow: ``<prefix>.<attribute>.min_air`` and the gaps."""
    out: dict[str, float] = {}
    for verdict in verdicts(rows):
        for key in ("min_air", "approval_gap", "tpr_gap", "fpr_gap"):
            value = getattr(verdict, key)
            if value is not None:
                out[f"{prefix}.{verdict.attribute}.{key}"] = float(value)
    return out
