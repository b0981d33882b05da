"""What the sidecar concludes about one window: the shape shared by the report, the Prometheus
metrics and the triggers. Built by :mod:`monitoring.analysis` from the statistics of
``monitoring.drift``, ``performance``, ``fairness`` and ``quality``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class FeatureDrift(BaseModel):
    """One monitored field's drift against the serving model's training reference."""

    feature: str
    psi: float
    band: str = Field(description="stable (< 0.1), watch (0.1-0.25) or act (>= 0.25).")
    drifted: bool
    test: str | None = Field(None, description="The two-sample test behind ``p_value``.")
    p_value: float | None = None
    effect: float | None = Field(None, description="KS D (numbers) or TVD (categories).")


class Labelled(BaseModel):
    """Performance on outcomes joined to this model's predictions."""

    n: int
    positives: int
    auc: float | None
    gini: float | None = None
    ks: float | None = None
    brier: float | None = None
    training_auc: float | None = None


class GroupFairness(BaseModel):
    """Adverse impact ratio of one group of a protected attribute."""

    attribute: str
    group: str
    n: int
    approval_rate: float | None = None
    adverse_impact_ratio: float | None
    small: bool = Field(False, description="Too small to flag (and not published).")
    flagged: bool


class Lookups(BaseModel):
    """Feature-store lookups of the window's applications that carried a client key (from
    each traffic-log line's ``enrichment``; ``monitoring.quality.lookup_quality``)."""

    looked_up: int
    outcomes: dict[str, int] = Field(description="hit, miss, timeout, error -> applications.")
    miss_share: float = Field(description="Misses over looked-up applications (0-1).")
    failure_share: float = Field(description="Timeouts and errors over looked-up ones (0-1).")
    flagged: bool
    problem: str | None = None


class Segment(BaseModel):
    """The records of one model version in a window, analysed against that model's reference."""

    model_version: str
    model_created_at: datetime | None = Field(None, description="When the model was trained.")
    records: int
    drift_score: float = Field(description="Share of monitored fields that drifted (0-1).")
    drifted_features: list[str]
    features: list[FeatureDrift]
    score_psi: float
    score_band: str
    labelled: Labelled | None = None
    estimated_auc: float | None = None
    estimated_default_rate: float | None = None
    fairness: list[GroupFairness] = Field(default_factory=list)
    quality_breach: bool = False
    quality_problems: list[str] = Field(default_factory=list)
    lookups: Lookups | None = Field(
        None, description="Feature-store lookups (None: no application had a client key)."
    )
    details: dict[str, Any] = Field(
        default_factory=dict, description="The statistics modules' own summaries, as JSON."
    )
    evidently_report: str | None = Field(None, description="File name of Evidently's page.")
    charts: dict[str, str] = Field(
        default_factory=dict,
        description="SVG file (beside the page) of the reference vs window distribution of "
        "each drifted field and of the score (``probability``).",
    )


class TriggerEvent(BaseModel):
    """A retraining trigger that fired, and why."""

    trigger: str
    reason: str
    model_version: str
    window_id: str
    at: datetime
    value: float | None = None
    threshold: float | None = None


class WindowResult(BaseModel):
    """Everything concluded about one window."""

    window_id: str
    start: datetime
    end: datetime
    analysed_at: datetime
    records: int
    closed_by: str
    segments: list[Segment]
    skipped: dict[str, int] = Field(
        default_factory=dict,
        description="Records of model versions too few, or without a reference, to analyse.",
    )
    triggers: list[TriggerEvent] = Field(default_factory=list)
    paused: str | None = Field(None, description="Why scoring was paused by this window.")
    errors: list[str] = Field(default_factory=list)
