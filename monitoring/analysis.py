"""One window against the serving model's own training reference: the statistics composed.

Records are grouped by the model version that scored them (a window may straddle a promotion
or a canary); each version's records are compared with *that* version's reference profile,
read from its Bento model folder, and its outcomes are joined from the prediction store.
The statistics are ``monitoring.drift``, ``performance``, ``fairness``, ``quality`` and
``evidently_report``; this module only composes them into a :class:`WindowResult`.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import bentoml
import numpy as np
import pandas as pd

from loan_default.errors import LoanError
from loan_default.reference import PROBABILITY, ReferenceProfile
from loan_default.schema import records_to_frame
from loan_default.store import ModelMetadata
from loan_default.traffic import PredictionRecord
from loan_default.training_metrics import TrainingMetrics
from monitoring.charts import distribution_charts
from monitoring.drift import DriftSummary, compute_drift
from monitoring.evidently_report import Verdicts, sidecar_verdicts
from monitoring.fairness import AGE_BAND, compute_fairness
from monitoring.performance import estimated_performance, labelled_performance
from monitoring.quality import compute_quality, lookup_quality
from monitoring.results import FeatureDrift, GroupFairness, Labelled, Segment, WindowResult
from monitoring.settings import MonitoringConfig
from monitoring.state import MonitorState
from monitoring.windows import Window

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelContext:
    """What the sidecar needs of a registered model: its metadata and drift reference."""

    metadata: ModelMetadata
    reference: ReferenceProfile
    path: Path


class ModelCatalog:
    """Loads each model version's metadata and reference from the Bento store, once."""

    def __init__(self) -> None:
        self._cache: dict[str, ModelContext] = {}

    def get(self, tag: str) -> ModelContext | str:
        """The model's context, or why it cannot be analysed (not found, no reference)."""
        if tag in self._cache:
            return self._cache[tag]
        context = self._load(tag)
        if isinstance(context, ModelContext):  # failures are retried: the store may catch up
            self._cache[tag] = context
        return context

    @staticmethod
    def _load(tag: str) -> ModelContext | str:
        try:
            bento_model = bentoml.models.get(tag)
        except bentoml.exceptions.NotFound:
            return f"model {tag} is not in the Bento model store"
        path = Path(bento_model.path)
        try:
            reference = ReferenceProfile.load(path)
        except LoanError as exc:
            return f"model {tag} has no usable drift reference: {exc}"
        return ModelContext(
            ModelMetadata.model_validate(dict(bento_model.info.metadata)), reference, path
        )


def analyse(
    window: Window,
    *,
    window_id: str,
    catalog: ModelCatalog,
    state: MonitorState,
    config: MonitoringConfig,
    folder: Path,
    now: datetime,
    evidently: bool = True,
) -> WindowResult:
    """Analyse every model version of a window; Evidently's pages are written into ``folder``."""
    groups: dict[str, list[PredictionRecord]] = defaultdict(list)
    for r in window.records:
        groups[f"{r.model_name}:{r.model_version}"].append(r)
    segments: list[Segment] = []
    skipped: dict[str, int] = {}
    errors: list[str] = []
    for tag, records in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        context = catalog.get(tag)
        if isinstance(context, str):
            skipped[tag] = len(records)
            errors.append(context)
            continue
        if len(records) < config.drift.min_rows:
            skipped[tag] = len(records)
            continue
        try:
            segments.append(_segment(records, context, state, config, folder, evidently=evidently))
        except LoanError as exc:  # bad data in this window must not stop the monitoring
            skipped[tag] = len(records)
            errors.append(f"{tag}: {exc}")
    return WindowResult(
        window_id=window_id,
        start=window.start,
        end=window.end,
        analysed_at=now,
        records=len(window.records),
        closed_by=window.closed_by,
        segments=segments,
        skipped=skipped,
        errors=errors,
    )


def _segment(
    records: list[PredictionRecord],
    context: ModelContext,
    state: MonitorState,
    config: MonitoringConfig,
    folder: Path,
    *,
    evidently: bool,
) -> Segment:
    meta = context.metadata
    frame = records_to_frame([r.application for r in records])
    p = np.array([r.default_probability for r in records], dtype=np.float64)
    decisions = np.array([r.decided() for r in records], dtype=object)
    drift = compute_drift(context.reference, frame, p, config.drift)
    trained = training_figures(meta.training_metrics)
    outcomes = state.labelled(meta.version, config.outcomes.window)
    perf = labelled_performance(
        outcomes["observed_default"].to_numpy(),
        outcomes["probability"].to_numpy(),
        trained,
        config.performance,
    )
    estimated = estimated_performance(p, trained)
    fairness = compute_fairness(frame, decisions, None, config.fairness)
    fairness_labelled = None
    if perf.status == "ok":  # equal opportunity needs outcomes: screen the labelled ones
        fairness_labelled = compute_fairness(
            outcomes,
            outcomes["decision"].to_numpy(),
            outcomes["observed_default"].to_numpy(),
            config.fairness,
        )
    # Quality on the values as logged: coercion would turn an invalid value into a missing one.
    raw = pd.DataFrame.from_records([r.application for r in records])
    quality = compute_quality(raw, config.quality, reference=context.reference)
    charts = distribution_charts(
        context.reference, frame, p, drift.drifted_features, folder,
        prefix=f"dist-{meta.version}",
        psi={**{f.name: f.psi for f in drift.features}, PROBABILITY: drift.score_psi},
    )  # fmt: skip
    page = evidently_drifted = None
    if evidently:
        page = f"evidently-{meta.version}.html"
        current = frame.assign(**{PROBABILITY: p})
        columns = None
        if config.reports.evidently_columns == "drifted":
            columns = [*drift.drifted_features, PROBABILITY]
        evidently_drifted = _render_evidently(
            context.reference, current, folder / page, config, columns,
            sidecar_verdicts(drift, config.drift),
        )  # fmt: skip
        if evidently_drifted is None:
            page = None
    return Segment(
        model_version=meta.version,
        model_created_at=meta.created_at,
        records=len(records),
        drift_score=drift.drift_score,
        drifted_features=drift.drifted_features,
        features=_features(drift),
        score_psi=drift.score_psi,
        score_band=drift.score_band,
        labelled=Labelled(
            n=perf.labels,
            positives=perf.defaults,
            auc=perf.roc_auc,
            gini=perf.gini,
            ks=perf.ks,
            brier=perf.brier,
            training_auc=trained.get("roc_auc"),
        ),
        estimated_auc=estimated.expected_roc_auc,
        estimated_default_rate=estimated.expected_default_rate,
        fairness=[
            GroupFairness(
                attribute=a.attribute,
                group=g.group,
                n=g.size,
                approval_rate=1 - g.adverse_rate,
                adverse_impact_ratio=g.air,
                small=g.small,
                flagged=g.flagged,
            )
            for a in fairness.attributes
            for g in a.groups
        ],
        quality_breach=quality.breach,
        quality_problems=quality.problems,
        lookups=lookup_quality((r.enrichment for r in records), config.quality),
        details={
            "drift": drift.model_dump(mode="json"),
            "performance": perf.model_dump(mode="json"),
            "estimated_performance": estimated.model_dump(mode="json"),
            "fairness": fairness.model_dump(mode="json"),
            "fairness_labelled": fairness_labelled and fairness_labelled.model_dump(mode="json"),
            "quality": quality.model_dump(mode="json"),
            "evidently_drifted_columns": evidently_drifted,
            "drift_rule": config.drift.model_dump(
                mode="json", include={"alpha", "min_effect", "psi_act", "min_drifted_features"}
            ),
        },
        evidently_report=page,
        charts=charts,
    )


def training_figures(metrics: TrainingMetrics) -> dict[str, float]:
    """A model's training AUC, KS and Brier under the names ``monitoring.performance`` reads:
    the hold-out figures (the calibrated model on unseen rows, as served) when training had
    a test split, else the cross-validated means."""
    figures = {}
    for name in ("roc_auc", "ks", "brier"):
        value = metrics.baseline(name)
        if value is not None:
            figures[name] = value
    return figures


def stored_attributes(config: MonitoringConfig) -> list[str]:
    """Application fields kept with each prediction for the labelled fairness screen."""
    return sorted({"age_days" if a == AGE_BAND else a for a in config.fairness.attributes})


def _features(drift: DriftSummary) -> list[FeatureDrift]:
    return [
        FeatureDrift(
            feature=f.name,
            psi=f.psi,
            band=f.band,
            drifted=f.drifted,
            test=f.method,
            p_value=f.p_value,
            effect=f.effect,
        )
        for f in drift.features
    ]


def _render_evidently(
    reference: ReferenceProfile,
    current: pd.DataFrame,
    path: Path,
    config: MonitoringConfig,
    columns: list[str] | None,
    verdicts: Verdicts,
) -> list[str] | None:
    """Evidently's page of the window; its own drifted columns, or None if it failed (the page
    is for people to browse: a failure is logged, the window's verdicts do not depend on it)."""
    from monitoring.evidently_report import drifted_columns, render_evidently

    try:
        results = render_evidently(
            reference.sample, current, path, config.evidently, columns=columns, verdicts=verdicts
        )
    except (LoanError, ValueError, TypeError, KeyError) as exc:
        log.warning("Evidently's report %s failed: %s", path.name, exc)
        return None
    return drifted_columns(results)
