"""Cross-validation of a candidate and the credit-risk metrics, with their fold spread.

Per fold: ROC AUC, Gini (2 AUC - 1), KS statistic (max TPR - FPR), Brier score and log loss of
the candidate's own probabilities, and precision / recall / F1 at the candidate's *decision*:
its approve cut (``training.decision``, the configured rule applied to its calibrated
out-of-fold probabilities), "not approved" being the positive. The cut lives on the
*calibrated* scale (where the service decides), so these are measured on cross-fitted
calibrated out-of-fold probabilities: comparable across candidates whatever class weights or
SMOTE did to their raw scores.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.base import clone
from sklearn.metrics import log_loss, precision_recall_curve, roc_auc_score, roc_curve
from sklearn.model_selection import StratifiedKFold

from loan_default.decision import DecisionPolicy
from loan_default.fairness import FairnessRow
from loan_default.training_metrics import METRICS
from training.calibration import brier, cross_fitted
from training.candidates import build_pipeline, fit_params
from training.config import CandidateConfig
from training.decision import DecisionRules, choose_policy

Advance = Callable[[], None]


def ks_statistic(y: np.ndarray, p: np.ndarray) -> float:
    """Kolmogorov-Smirnov: the largest gap between the score CDFs of defaults and non-defaults."""
    fpr, tpr, _ = roc_curve(y, p)
    return float(np.max(tpr - fpr))


def threshold_metrics(y: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, float]:
    """Precision, recall and F1 of the rule ``p >= threshold`` (0 when undefined)."""
    predicted = p >= threshold
    tp = float(np.sum(predicted & (y == 1)))
    precision = tp / max(float(predicted.sum()), 1.0)
    recall = tp / max(float(np.sum(y == 1)), 1.0)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def ranking_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """AUC, Gini, KS, Brier and log loss of probabilities ``p``."""
    auc = float(roc_auc_score(y, p))
    return {
        "roc_auc": auc,
        "gini": 2 * auc - 1,
        "ks": ks_statistic(y, p),
        "brier": brier(y, p),
        "log_loss": float(log_loss(y, np.clip(p, 1e-12, 1 - 1e-12), labels=[0, 1])),
    }


def calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error: the row-weighted mean gap between predicted and observed
    default rates over ``bins`` quantile bins of ``p``."""
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    if len(p) == 0:
        return 0.0
    order = np.argsort(p, kind="stable")
    gaps = [abs(float(p[idx].mean() - y[idx].mean())) * len(idx)
            for idx in np.array_split(order, min(bins, len(p))) if len(idx)]  # fmt: skip
    return float(sum(gaps) / len(p))


def f1_optimal_threshold(y: np.ndarray, p: np.ndarray) -> float:
    """The probability cut that maximises F1 (the operating threshold when none is set)."""
    precision, recall, thresholds = precision_recall_curve(y, p)
    f1 = np.divide(
        2 * precision * recall,
        precision + recall,
        out=np.zeros_like(precision),
        where=(precision + recall) > 0,
    )
    return float(thresholds[int(np.argmax(f1[:-1]))])


def oof_predictions(
    pipeline: Any,
    cand: CandidateConfig,
    X: pd.DataFrame,
    y: np.ndarray,
    *,
    folds: int,
    seed: int,
    n_jobs: int,
    advance: Advance | None = None,
) -> tuple[np.ndarray, np.ndarray, Any]:
    """Out-of-fold probabilities, the fold of each row, and the first fold's fitted model.

    Folds run in ``n_jobs`` threads, each estimator single-threaded: tree building and
    LightGBM release the GIL, and one thread per fold avoids the OpenMP spinning that
    multi-threaded estimators suffer on a busy 2-core machine (measured: 25x slower).
    """
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    splits = list(splitter.split(X, y))
    kwargs = fit_params(cand)

    def run(fit_idx: np.ndarray, val_idx: np.ndarray) -> tuple[Any, np.ndarray]:
        model = clone(pipeline).fit(X.iloc[fit_idx], y[fit_idx], **kwargs)
        predictions = np.asarray(model.predict_proba(X.iloc[val_idx])[:, 1], dtype=np.float64)
        if advance is not None:
            advance()
        return model, predictions

    results = Parallel(n_jobs=min(n_jobs, folds), backend="threading")(
        delayed(run)(fit_idx, val_idx) for fit_idx, val_idx in splits
    )
    oof = np.empty(len(y), dtype=np.float64)
    fold_of = np.empty(len(y), dtype=np.intp)
    for k, ((_, val_idx), (_, predictions)) in enumerate(zip(splits, results, strict=True)):
        oof[val_idx] = predictions
        fold_of[val_idx] = k
    return oof, fold_of, results[0][0]


@dataclass
class CVResult:
    """Cross-validation of one candidate."""

    candidate: CandidateConfig
    params: dict[str, Any]
    """Parameters chosen by the search (on top of the configured ones)."""
    folds: list[dict[str, float]]
    oof: np.ndarray
    """Out-of-fold raw probabilities, one per training row."""
    calibrated_oof: np.ndarray
    """The same, calibrated by a map fitted without each row (isotonic, cross-fitted)."""
    threshold: float
    """The approve cut on the calibrated scale (``policy.refer_at``)."""
    seconds: float
    fold_model: Any = None
    """The model fitted on the first fold's training rows (its feature importance)."""
    search_trials: list[dict[str, Any]] = field(default_factory=list)
    fold_of: np.ndarray | None = None
    """The fold whose validation rows each training row belongs to."""
    importance: pd.Series | None = None
    """Permutation importance per original field (``training.importance``)."""
    holdout: dict[str, float] = field(default_factory=dict)
    """ROC AUC and Brier score (calibrated) on the hold-out rows (``training.holdout``)."""
    policy: DecisionPolicy | None = None
    """The decision policy the configured rule picks on ``calibrated_oof``."""
    fairness: list[FairnessRow] = field(default_factory=list)
    """Fairness at ``policy``'s decision on the out-of-fold rows (``training.pipeline``)."""

    @property
    def name(self) -> str:
        return self.candidate.name

    def summary(self) -> dict[str, float]:
        """``<metric>_mean`` and ``<metric>_std`` over the folds, plus pooled figures."""
        table = pd.DataFrame(self.folds)
        out: dict[str, float] = {}
        for metric in METRICS:
            out[f"{metric}_mean"] = float(table[metric].mean())
            out[f"{metric}_std"] = float(table[metric].std(ddof=1))
        out["roc_auc_se"] = out["roc_auc_std"] / np.sqrt(len(table))
        out["threshold"] = self.threshold
        out["seconds"] = self.seconds
        return out


def cross_validate(
    cand: CandidateConfig,
    X: pd.DataFrame,
    y: np.ndarray,
    *,
    params: dict[str, Any] | None = None,
    folds: int,
    seed: int,
    n_jobs: int,
    decision: DecisionRules | None = None,
    advance: Advance | None = None,
) -> CVResult:
    """Stratified k-fold CV of a candidate: out-of-fold predictions and per-fold metrics."""
    start = time.perf_counter()
    pipeline = build_pipeline(cand, params, seed=seed)
    oof, fold_of, first_model = oof_predictions(
        pipeline, cand, X, y, folds=folds, seed=seed, n_jobs=n_jobs, advance=advance
    )
    result = result_from_oof(cand, oof, fold_of, y, seed=seed, decision=decision)
    result.params = dict(params or {})
    result.fold_model = first_model
    result.seconds = time.perf_counter() - start
    return result


def result_from_oof(
    cand: CandidateConfig,
    oof: np.ndarray,
    fold_of: np.ndarray,
    y: np.ndarray,
    *,
    seed: int,
    decision: DecisionRules | None = None,
) -> CVResult:
    """Per-fold metrics of out-of-fold probabilities (any candidate, blends included)."""
    calibrated = cross_fitted(oof, y, "isotonic", seed=seed)
    policy = choose_policy(calibrated, y, decision or DecisionRules(),
                           measured_on="out-of-fold, calibrated (cross-fitted)")  # fmt: skip
    threshold = policy.refer_at
    per_fold = []
    for k in range(int(fold_of.max()) + 1):
        mask = fold_of == k
        metrics = ranking_metrics(y[mask], oof[mask])
        metrics.update(threshold_metrics(y[mask], calibrated[mask], threshold))
        per_fold.append(metrics)
    return CVResult(
        candidate=cand,
        params={},
        folds=per_fold,
        oof=oof,
        calibrated_oof=calibrated,
        threshold=threshold,
        seconds=0.0,
        fold_of=fold_of,
        policy=policy,
    )
