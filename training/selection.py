"""Which candidate becomes the registered model: the champion rule, in code and in words.

1. Highest mean cross-validated ROC AUC wins, except that
2. every candidate within one standard error of it is treated as tied (Breiman's
   "one-standard-error rule"). All candidates are cross-validated on the *same* folds, so the
   standard error is that of the paired fold-by-fold AUC differences (std / sqrt(folds)):
   a candidate that loses by a hair on every fold is not tied, one whose gap is within the
   fold-to-fold noise is. Among the tied,
3. the simplest algorithm wins (logistic regression < decision tree < random forest <
   LightGBM), then the lower Brier score of its calibrated out-of-fold probabilities, then
   the name (a total order, so the choice is deterministic).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from training.evaluation import CVResult

RULE = (
    "highest mean CV ROC AUC; a candidate whose fold-by-fold AUC gap to it is within one "
    "standard error (std/sqrt(folds) of the paired differences; same folds for all) ties, and "
    "the simplest algorithm among the tied wins (logistic regression < decision tree < random "
    "forest < LightGBM), then the lower calibrated out-of-fold Brier score"
)


def auc_gap(best: CVResult, other: CVResult) -> tuple[float, float]:
    """Mean and standard error of ``best``'s fold-by-fold AUC advantage over ``other``."""
    gaps = np.array(
        [b["roc_auc"] - o["roc_auc"] for b, o in zip(best.folds, other.folds, strict=True)]
    )
    if len(gaps) < 2:
        return float(gaps.mean()), 0.0
    return float(gaps.mean()), float(gaps.std(ddof=1) / np.sqrt(len(gaps)))


def choose_champion(results: Sequence[CVResult], y: np.ndarray) -> CVResult:
    """Apply :data:`RULE` to the cross-validation results."""
    if not results:
        raise ValueError("no candidate results to choose from")
    best = max(results, key=lambda r: (r.summary()["roc_auc_mean"], r.name))
    tied = [r for r in results if (gap := auc_gap(best, r))[0] <= gap[1]]
    return min(
        tied,
        key=lambda r: (
            r.candidate.algorithm.complexity,
            float(np.mean((r.calibrated_oof - y) ** 2)),
            r.name,
        ),
    )
