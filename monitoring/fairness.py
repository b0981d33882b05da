"""Fairness of the model's decisions by protected attribute (fair-lending screen).

Screened at the decision each prediction logged (``approve`` / ``refer`` / ``decline``, the
model's approved policy: ``loan_default.decision``), not at a risk band nobody acts on. For
each attribute (by default gender, education and an age band derived from ``age_days``) and
each of its groups, fairlearn's ``MetricFrame`` gives:

* the **adverse rate**: share of the group not approved (``refer`` and ``decline`` by default;
  ``decline`` alone if so configured), so the approval rate is ``1 - adverse``;
* the **adverse impact ratio** (AIR) against the most favoured group, the eligible group with
  the *lowest* adverse rate. As in the four-fifths rule, the ratio is of favourable rates:
  ``AIR = (1 - adverse_g) / (1 - adverse_ref)``; a group with ``AIR < 0.8`` is flagged. The
  ratio of adverse rates (``adverse_g / adverse_ref``) is reported too, for information: when
  adverse decisions are rare it moves much more than the AIR;
* once outcomes are known (``y``, 1 = defaulted), the true positive rate (share of defaulters
  given an adverse decision) and the false positive rate (share of good payers given one: the
  applicants harmed), and per attribute the largest gap of each between eligible groups,
  flagged above ``max_rate_gap`` (equal opportunity / equalised odds screen).

Groups smaller than ``min_group_size`` are reported but never flagged nor used as the
reference; a missing attribute value is its own group, ``missing``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from fairlearn.metrics import MetricFrame, count, false_positive_rate, selection_rate
from fairlearn.metrics import true_positive_rate as tpr_metric
from pydantic import BaseModel, Field

from loan_default.decision import DECISIONS, Decision
from loan_default.errors import InputError
from loan_default.fairness import AGE_BAND, MISSING_GROUP, FairnessRules, age_bands

__all__ = ["AGE_BAND", "MISSING_GROUP", "FairnessConfig", "age_bands", "compute_fairness"]


class FairnessConfig(FairnessRules):
    """What is screened and when a group is flagged (``configs/monitoring.yaml``): training's
    rules (``loan_default.fairness.FairnessRules``) and which logged decisions are adverse."""

    adverse_decisions: list[Decision] = Field(
        default_factory=lambda: list[Decision](["refer", "decline"]),
        description="Decisions that count as adverse (not approved).",
    )


class GroupFairness(BaseModel):
    """One group of one protected attribute."""

    group: str
    size: int
    adverse_rate: float
    air: float | None = Field(description="Favourable rate / the reference group's.")
    adverse_ratio: float | None = Field(description="Adverse rate / the reference group's.")
    small: bool = Field(description="size < min_group_size: reported, not flagged.")
    flagged: bool = Field(description="air < air_threshold.")
    tpr: float | None = Field(None, description="P(adverse | defaulted); needs outcomes.")
    fpr: float | None = Field(None, description="P(adverse | repaid); needs outcomes.")


class AttributeFairness(BaseModel):
    """All groups of one protected attribute."""

    attribute: str
    reference_group: str | None = Field(description="Eligible group with the lowest adverse rate.")
    groups: list[GroupFairness]
    min_air: float | None
    flagged_groups: list[str]
    tpr_gap: float | None = None
    fpr_gap: float | None = None
    flagged: bool


class FairnessSummary(BaseModel):
    """Fairness screen of one window of decisions."""

    rows: int
    labelled: bool
    adverse_decisions: list[str]
    attributes: list[AttributeFairness]
    flagged: bool


def _groups(frame: pd.DataFrame, attribute: str, config: FairnessConfig) -> pd.Series:
    if attribute == AGE_BAND:
        if "age_days" not in frame.columns:
            raise InputError("fairness attribute 'age_band' needs the column age_days")
        return age_bands(frame["age_days"], config.age_band_edges).rename(AGE_BAND)
    if attribute not in frame.columns:
        raise InputError(f"fairness attribute {attribute!r} is not a column of the frame")
    values = frame[attribute].astype("object")
    return values.where(values.notna(), MISSING_GROUP).astype(str).rename(attribute)


def _optional(value: Any) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def _attribute(
    groups: pd.Series, adverse: np.ndarray, y: np.ndarray | None, config: FairnessConfig
) -> AttributeFairness:
    if len(groups) == 0:
        return AttributeFairness(attribute=str(groups.name), reference_group=None, groups=[],
                                 min_air=None, flagged_groups=[], flagged=False)  # fmt: skip
    metrics: dict[str, Any] = {"adverse_rate": selection_rate, "size": count}
    if y is not None:
        metrics |= {"tpr": tpr_metric, "fpr": false_positive_rate, "defaults": _defaults}
    truth = y if y is not None else adverse
    table = MetricFrame(
        metrics=metrics, y_true=truth, y_pred=adverse, sensitive_features=groups
    ).by_group
    eligible = table[table["size"] >= config.min_group_size]
    reference = str(eligible["adverse_rate"].idxmin()) if len(eligible) else None
    ref_rate = float(table.loc[reference, "adverse_rate"]) if reference is not None else None
    rows: list[GroupFairness] = []
    for group, row in table.iterrows():
        size, rate = int(row["size"]), float(row["adverse_rate"])
        air = ratio = None
        if ref_rate is not None:
            air = (1 - rate) / (1 - ref_rate) if ref_rate < 1 else None
            ratio = rate / ref_rate if ref_rate > 0 else None
        small = size < config.min_group_size
        tpr = fpr = None
        if y is not None:
            defaults = int(row["defaults"])
            tpr = _optional(row["tpr"]) if defaults > 0 else None
            fpr = _optional(row["fpr"]) if defaults < size else None
        flagged = not small and air is not None and air < config.air_threshold
        rows.append(GroupFairness(group=str(group), size=size, adverse_rate=rate, air=air,
                                  adverse_ratio=ratio, small=small, flagged=flagged,
                                  tpr=tpr, fpr=fpr))  # fmt: skip
    big = [g for g in rows if not g.small]
    tpr_gap = _gap([g.tpr for g in big])
    fpr_gap = _gap([g.fpr for g in big])
    airs = [g.air for g in big if g.air is not None]
    flagged_groups = [g.group for g in rows if g.flagged]
    gap_flag = any(gap is not None and gap > config.max_rate_gap for gap in (tpr_gap, fpr_gap))
    return AttributeFairness(
        attribute=str(groups.name),
        reference_group=reference,
        groups=rows,
        min_air=min(airs) if airs else None,
        flagged_groups=flagged_groups,
        tpr_gap=tpr_gap,
        fpr_gap=fpr_gap,
        flagged=bool(flagged_groups) or gap_flag,
    )


def _defaults(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(np.sum(y_true))


def _gap(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return max(present) - min(present) if len(present) >= 2 else None


def compute_fairness(
    frame: pd.DataFrame,
    decisions: np.ndarray | list[str],
    y: np.ndarray | None = None,
    config: FairnessConfig | None = None,
) -> FairnessSummary:
    """Screen one window of decisions for disparate impact by protected attribute.

    Args:
        frame: canonical application rows (the protected columns and ``age_days``).
        decisions: the ``approve``/``refer``/``decline`` decision of each row (for traffic
            logged before decisions: ``loan_default.decision.legacy_decisions``).
        y: observed outcomes (1 = defaulted) of the same rows, when known.
        config: attributes, adverse decisions, thresholds.

    Raises:
        InputError: lengths differ, an unknown decision, or an attribute column is absent.
    """
    config = config or FairnessConfig()
    decided = np.asarray(decisions, dtype=object)
    if len(decided) != len(frame):
        raise InputError(f"{len(decided)} decisions but the frame has {len(frame)} rows")
    unknown = sorted(set(decided.tolist()) - set(DECISIONS))
    if unknown:
        raise InputError(f"decisions must be one of {list(DECISIONS)}, not {unknown}")
    adverse = np.isin(decided, config.adverse_decisions).astype(int)
    labels = None
    if y is not None:
        labels = np.asarray(y, dtype="float64").ravel()
        if len(labels) != len(frame) or not np.isin(labels, (0.0, 1.0)).all():
            raise InputError("y must hold a 0/1 outcome for every row of the frame")
        labels = labels.astype(int)
    attributes = [_attribute(_groups(frame, a, config), adverse, labels, config)
                  for a in config.attributes]  # fmt: skip
    return FairnessSummary(
        rows=len(frame),
        labelled=labels is not None,
        adverse_decisions=list(config.adverse_decisions),
        attributes=attributes,
        flagged=any(a.flagged for a in attributes),
    )
