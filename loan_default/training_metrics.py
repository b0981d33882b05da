"""What training measured of a model, typed and named once for every stage.

Training fills :class:`TrainingMetrics`; the model's metadata stores it
(``ModelMetadata.training_metrics``); the registry listing, the monitoring (the baseline its
live figures are compared with) and ``/v1/metadata`` read it. Two kinds of figure, never mixed:

* **cross-validation** (``cv``): each metric's mean and standard deviation over the stratified
  folds on the training split. Ranking figures (ROC AUC, Gini, KS, Brier, log loss) are of the
  out-of-fold probabilities *before* calibration; precision, recall and F1 of the calibrated
  out-of-fold probabilities at the decision threshold. The champion was *chosen* on these.
* **hold-out** (``holdout``): the final calibrated model on the test split it never saw
  (``test_size`` of the training config; absent when it is 0). The unbiased estimate.

MLflow takes flat numbers: :meth:`TrainingMetrics.flat` gives ``roc_auc_mean``,
``roc_auc_std``, ``holdout_roc_auc``, ... and :meth:`TrainingMetrics.from_flat` reads them back,
which is also how metadata written before this class existed (a flat dict) is still read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

METRICS: tuple[str, ...] = (
    "roc_auc",
    "gini",
    "ks",
    "precision",
    "recall",
    "f1",
    "brier",
    "log_loss",
)
"""Every figure training measures (higher is better except brier and log_loss)."""
_FLAT_EXTRAS = ("threshold", "calibration_brier", "folds", "holdout_rows")


class Spread(BaseModel):
    """One metric over the cross-validation folds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mean: float = Field(..., description="Mean over the folds.")
    std: float | None = Field(
        None, description="Standard deviation over the folds (sample, ddof=1); null if unknown."
    )


class TrainingMetrics(BaseModel):
    """The champion's figures at training: cross-validated and on the held-out test split."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cv: dict[str, Spread] = Field(
        default_factory=dict,
        description="Per metric: mean and spread over the CV folds of the training split "
        "(ranking metrics before calibration; precision/recall/F1 calibrated, at the decision "
        "threshold). The champion was selected on these.",
    )
    folds: int | None = Field(None, ge=2, description="Number of CV folds.")
    holdout: dict[str, float] = Field(
        default_factory=dict,
        description="Per metric: the final calibrated model on the held-out test split it never "
        "saw (empty when training used no test split).",
    )
    holdout_rows: int | None = Field(None, ge=0, description="Rows of the held-out test split.")
    decision_threshold: float | None = Field(
        None, description="Calibrated probability at which precision, recall and F1 are measured."
    )
    calibration_brier: float | None = Field(
        None, description="Brier score of the chosen calibration, cross-fitted on training rows."
    )
    other: dict[str, float] = Field(
        default_factory=dict,
        description="Figures of older metadata this naming does not cover, kept as they were.",
    )

    @model_validator(mode="before")
    @classmethod
    def _read_flat(cls, data: Any) -> Any:
        """Metadata written before this class: a flat ``{name: number}`` dict."""
        structured = ("cv", "holdout", "other")
        if isinstance(data, Mapping) and not any(
            isinstance(data.get(k), Mapping) for k in structured
        ):
            return cls.from_flat(data).model_dump()
        return data

    @classmethod
    def from_flat(cls, flat: Mapping[str, Any]) -> TrainingMetrics:
        """Read MLflow-style flat figures (``roc_auc_mean``, ``holdout_ks``, ...)."""
        cv: dict[str, dict[str, float | None]] = {}
        holdout: dict[str, float] = {}
        other: dict[str, float] = {}
        for key, value in flat.items():
            metric, _, kind = key.rpartition("_")
            if metric in METRICS and kind in ("mean", "std"):
                cv.setdefault(metric, {"mean": float("nan"), "std": None})[kind] = float(value)
            elif key.startswith("holdout_") and key.removeprefix("holdout_") in METRICS:
                holdout[key.removeprefix("holdout_")] = float(value)
            elif key not in (*_FLAT_EXTRAS, "roc_auc_se", "seconds"):
                other[key] = float(value)
        return cls(
            cv={m: Spread.model_validate(s) for m, s in cv.items()},
            holdout=holdout,
            other=other,
            folds=_whole(flat.get("folds")),
            holdout_rows=_whole(flat.get("holdout_rows")),
            decision_threshold=_number(flat.get("threshold")),
            calibration_brier=_number(flat.get("calibration_brier")),
        )

    def flat(self) -> dict[str, float]:
        """Flat numbers for MLflow: ``<metric>_mean``, ``<metric>_std``, ``holdout_<metric>``."""
        out: dict[str, float] = {}
        for metric, spread in self.cv.items():
            out[f"{metric}_mean"] = spread.mean
            if spread.std is not None:
                out[f"{metric}_std"] = spread.std
        out.update({f"holdout_{metric}": value for metric, value in self.holdout.items()})
        extras = {
            "threshold": self.decision_threshold,
            "calibration_brier": self.calibration_brier,
            "folds": self.folds,
            "holdout_rows": self.holdout_rows,
        }
        out.update({k: float(v) for k, v in extras.items() if v is not None})
        out.update(self.other)
        return out

    def baseline(self, metric: str) -> float | None:
        """The best training estimate of ``metric``: hold-out when measured, else the CV mean."""
        if metric in self.holdout:
            return self.holdout[metric]
        spread = self.cv.get(metric)
        return spread.mean if spread is not None else None


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def _whole(value: Any) -> int | None:
    return None if value is None else int(value)
