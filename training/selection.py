"""Which candidate becomes the registered model: the champion rule, in code and in words.

1. Highest mean cross-validated ROC AUC wins, except that
2. every candidate within one standard error of that mean (std / sqrt(folds), Breiman's
   "one-standard-error rule") is treated as tied with it; among the tied,
3. the simplest algorithm wins (logistic regression < decision tree < random forest <
   LightGBM), then the lower Brier score of its calibrated out-of-fold probabilities, then
   the name (a total order, so the choice is deterministic).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from training.evaluation import CVResult

RULE = (
    "highest mean CV ROC AUC; candidates within one standard error of it (std/sqrt(folds)) "
    "tie, and the simplest algorithm among them wins (logistic regression < decision tree < "
    "random forest < LightGBM), then the lower calibrated out-of-fold Brier score"
)


def choose_champion(results: Sequence[CVResult], y: np.ndarray) -> CVResult:
    """Apply :data:`RULE` to the cross-validation results."""
    if not results:
        raise ValueError("no candidate results to choose from")
    summaries = {res.name: res.summary() for res in results}
    best = max(results, key=lambda r: summaries[r.name]["roc_auc_mean"])
    floor = summaries[best.name]["roc_auc_mean"] - summaries[best.name]["roc_auc_se"]
    tied = [r for r in results if summaries[r.name]["roc_auc_mean"] >= floor]
    return min(
        tied,
        key=lambda r: (
            r.candidate.algorithm.complexity,
            float(np.mean((r.calibrated_oof - y) ** 2)),
            r.name,
        ),
    )
