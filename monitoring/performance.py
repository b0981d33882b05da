"""Model performance in production: realised (outcomes arrived) and estimated (no labels yet).

Realised performance (:func:`labelled_performance`) is measured on the scored applications
whose outcome has been reported: ROC AUC, Gini, the KS statistic (largest gap between the
score distributions of defaulters and non-defaulters) and the Brier score, each with its change
against the figures measured at training (``ModelMetadata.training_metrics``, keys ``roc_auc``,
``ks`` and ``brier``). With fewer than ``min_labels`` outcomes, or fewer than
``min_class_count`` of either class, nothing is computed and ``status`` is ``"insufficient"``.

Labels arrive months after scoring, so :func:`estimated_performance` estimates the AUC from the
probabilities alone, on the assumption that they are calibrated (confidence-based performance
estimation, the idea of NannyML's CBPE): if each application defaults with its predicted
probability, the expected number of (defaulter, non-defaulter) pairs the score orders correctly,
divided by the expected number of such pairs, is::

    sum_{i != j} p_i (1 - p_j) [1(p_i > p_j) + 0.5 * 1(p_i = p_j)] / sum_{i != j} p_i (1 - p_j)

computed in O(n log n) by sorting (a ratio of expectations; it tracks the mean realised AUC
closely for windows of hundreds of rows or more). The expected Brier score of calibrated
probabilities is ``mean(p (1 - p))`` and the expected default rate is ``mean(p)``. A shift in
the score distribution moves these estimates before any outcome is known; they cannot see a
change in the relation between features and outcome (concept drift): only labels can.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from sklearn.metrics import brier_score_loss, roc_auc_score, roc_curve

from loan_default.errors import InputError


class PerformanceConfig(BaseModel):
    """When realised performance is computed and when it counts as degraded."""

    model_config = ConfigDict(extra="forbid")

    min_labels: int = Field(200, ge=2, description="Fewer outcomes: 'insufficient'.")
    min_class_count: int = Field(10, ge=1, description="Fewer defaults (or non-defaults).")
    max_auc_drop: float = Field(0.05, ge=0, description="AUC drop that marks degradation.")


class PerformanceSummary(BaseModel):
    """Realised performance on labelled records, and its change since training."""

    status: Literal["ok", "insufficient"]
    reason: str | None = Field(None, description="Why nothing was computed.")
    labels: int
    defaults: int
    observed_default_rate: float | None
    mean_probability: float | None
    roc_auc: float | None = None
    gini: float | None = None
    ks: float | None = None
    brier: float | None = None
    auc_drop: float | None = Field(None, description="Training AUC minus this AUC.")
    ks_drop: float | None = Field(None, description="Training KS minus this KS.")
    brier_increase: float | None = Field(None, description="This Brier minus training Brier.")
    degraded: bool = Field(False, description="auc_drop > max_auc_drop.")


class EstimatedPerformance(BaseModel):
    """Performance implied by the probabilities, assuming they are calibrated."""

    rows: int
    expected_roc_auc: float | None = Field(description="None with fewer than two rows.")
    expected_default_rate: float | None
    expected_brier: float | None
    expected_auc_drop: float | None = Field(None, description="Training AUC minus expected AUC.")


def _as_arrays(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y_arr = np.asarray(y, dtype="float64").ravel()
    p_arr = np.asarray(p, dtype="float64").ravel()
    if len(y_arr) != len(p_arr):
        raise InputError(f"{len(y_arr)} outcomes but {len(p_arr)} probabilities")
    if not np.isin(y_arr, (0.0, 1.0)).all():
        raise InputError("outcomes must be 0 (repaid) or 1 (defaulted)")
    if np.isnan(p_arr).any() or (p_arr < 0).any() or (p_arr > 1).any():
        raise InputError("probabilities must be numbers from 0 to 1")
    return y_arr.astype("int64"), p_arr


def ks_statistic(y: np.ndarray, p: np.ndarray) -> float:
    """Kolmogorov-Smirnov statistic of a scorecard: ``max(TPR - FPR)`` over thresholds."""
    fpr, tpr, _ = roc_curve(y, p)
    return float(np.max(tpr - fpr))


def labelled_performance(
    y: np.ndarray,
    p: np.ndarray,
    training_metrics: Mapping[str, float] | None = None,
    config: PerformanceConfig | None = None,
) -> PerformanceSummary:
    """Realised performance of the records whose outcome has arrived.

    Args:
        y: observed outcomes, 1 = defaulted.
        p: the probabilities the model gave those applications.
        training_metrics: the model's figures at training (``roc_auc``, ``ks``, ``brier``).
        config: minimum counts and the degradation threshold.

    Raises:
        InputError: lengths differ, outcomes are not 0/1 or probabilities not in [0, 1].
    """
    config = config or PerformanceConfig()
    y_arr, p_arr = _as_arrays(y, p)
    n, defaults = len(y_arr), int(y_arr.sum())
    base = PerformanceSummary(
        status="insufficient",
        labels=n,
        defaults=defaults,
        observed_default_rate=defaults / n if n else None,
        mean_probability=float(p_arr.mean()) if n else None,
    )
    if n < config.min_labels:
        return base.model_copy(update={"reason": f"{n} labels < min_labels {config.min_labels}"})
    if min(defaults, n - defaults) < config.min_class_count:
        reason = (
            f"{defaults} defaults and {n - defaults} repayments: each class needs "
            f"min_class_count {config.min_class_count}"
        )
        return base.model_copy(update={"reason": reason})
    auc = float(roc_auc_score(y_arr, p_arr))
    ks = ks_statistic(y_arr, p_arr)
    brier = float(brier_score_loss(y_arr, p_arr))
    train = dict(training_metrics or {})
    auc_drop = train["roc_auc"] - auc if "roc_auc" in train else None
    return base.model_copy(
        update={
            "status": "ok",
            "roc_auc": auc,
            "gini": 2 * auc - 1,
            "ks": ks,
            "brier": brier,
            "auc_drop": auc_drop,
            "ks_drop": train["ks"] - ks if "ks" in train else None,
            "brier_increase": brier - train["brier"] if "brier" in train else None,
            "degraded": auc_drop is not None and auc_drop > config.max_auc_drop,
        }
    )


def expected_auc(p: np.ndarray) -> float | None:
    """AUC expected if each row defaults with its probability (see the module docstring)."""
    p = np.sort(np.asarray(p, dtype="float64").ravel())
    if len(p) < 2:
        return None
    q = 1.0 - p
    _, starts = np.unique(p, return_index=True)
    group_q = np.add.reduceat(q, starts)  # sum of (1 - p_j) over each group of equal p
    below = np.concatenate([[0.0], np.cumsum(group_q)[:-1]])  # over strictly smaller p
    sizes = np.diff(np.append(starts, len(p)))
    per_row_below = np.repeat(below, sizes)
    per_row_tied = np.repeat(group_q, sizes) - q  # the other rows of the same value
    numerator = float(np.sum(p * (per_row_below + 0.5 * per_row_tied)))
    denominator = float(p.sum() * q.sum() - np.sum(p * q))
    if denominator <= 0:
        return None
    return numerator / denominator


def estimated_performance(
    p: np.ndarray, training_metrics: Mapping[str, float] | None = None
) -> EstimatedPerformance:
    """Label-free performance estimate of one window from its calibrated probabilities."""
    p_arr = np.asarray(p, dtype="float64").ravel()
    p_arr = p_arr[~np.isnan(p_arr)]
    if (p_arr < 0).any() or (p_arr > 1).any():
        raise InputError("probabilities must be numbers from 0 to 1")
    auc = expected_auc(p_arr)
    train_auc = (training_metrics or {}).get("roc_auc")
    n = len(p_arr)
    return EstimatedPerformance(
        rows=n,
        expected_roc_auc=auc,
        expected_default_rate=float(p_arr.mean()) if n else None,
        expected_brier=float(np.mean(p_arr * (1 - p_arr))) if n else None,
        expected_auc_drop=train_auc - auc if auc is not None and train_auc is not None else None,
    )
