"""Data quality of traffic: missing and invalid values per field, against the canonical schema.

For every monitored field (``loan_default.reference.MONITORED_FIELDS``) of a window:

* **missing rate**: share of rows without a value;
* **invalid rate**: share of rows whose value breaks the field's rule in
  ``loan_default.schema`` (outside ``[minimum, maximum]``, infinite, not an integer for integer
  fields, not 0/1 for booleans, not a listed category for closed vocabularies, not a lower
  snake_case name for the open one, or text in a numeric field).

A field **breaches** when its invalid rate exceeds ``max_invalid_rate``, or its missing rate
exceeds its limit: ``missing_limits[field]`` if configured; else, given the training reference,
the reference's missing rate plus ``max_missing_increase`` (a field that is usually 60% empty is
not an incident at 65%, a field that is never empty is one at 25%); else ``max_missing_rate``
(0.9: without a reference only a field that all but vanished is an incident, since several
optional fields are more than half empty in ordinary traffic). Pass the reference. The window
breaches when any field does (and it has at least ``min_rows`` rows);
:attr:`QualitySummary.problems` says why, in words.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from loan_default.reference import MONITORED_FIELDS, ReferenceProfile
from loan_default.schema import FieldSpec, Kind
from monitoring.results import Lookups

_OPEN_CATEGORY = r"[a-z0-9_]{1,64}"


class QualityConfig(BaseModel):
    """Data-quality limits (``configs/monitoring.yaml`` -> ``quality``)."""

    model_config = ConfigDict(extra="forbid")

    max_invalid_rate: float = Field(0.01, ge=0, le=1, description="Share of invalid values.")
    max_missing_rate: float = Field(
        0.9, ge=0, le=1, description="Missing share allowed when there is no reference."
    )
    max_missing_increase: float = Field(
        0.2, ge=0, le=1, description="Missing share allowed above the reference's."
    )
    missing_limits: dict[str, float] = Field(
        default_factory=dict, description="Per-field missing share allowed (overrides both)."
    )
    min_rows: int = Field(50, ge=1, description="Smaller windows are reported, never breached.")
    max_lookup_miss_share: float = Field(
        0.2,
        ge=0,
        le=1,
        description="Share of feature-store lookups that find no client above which the "
        "window is flagged (a warning, never a pause: the applications were still scored).",
    )


class FieldQuality(BaseModel):
    """Quality of one field in the window."""

    name: str
    missing_rate: float
    invalid_rate: float
    missing_limit: float
    breach: bool


class QualitySummary(BaseModel):
    """Quality of one window."""

    rows: int
    fields: list[FieldQuality]
    breached_fields: list[str]
    breach: bool
    problems: list[str] = Field(description="One sentence per breached field.")


def invalid_mask(spec: FieldSpec, values: pd.Series) -> np.ndarray:
    """True where a present value breaks the field's schema rule."""
    present = values.notna().to_numpy()
    if spec.is_numeric:
        numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64")
        bad = np.isnan(numbers) | ~np.isfinite(numbers)
        with np.errstate(invalid="ignore"):
            if spec.minimum is not None:
                bad |= numbers < spec.minimum
            if spec.maximum is not None:
                bad |= numbers > spec.maximum
            if spec.kind in (Kind.INTEGER, Kind.BOOLEAN):
                bad |= numbers != np.round(numbers)
        return present & bad
    text = values.astype(object).where(values.notna(), "").astype(str)
    if spec.categories is not None:
        return present & ~text.isin(spec.categories).to_numpy()
    return present & ~text.str.fullmatch(_OPEN_CATEGORY).to_numpy(dtype=bool)


def _missing_limit(name: str, config: QualityConfig, reference: ReferenceProfile | None) -> float:
    if name in config.missing_limits:
        return config.missing_limits[name]
    if reference is not None and name in reference.stats.fields:
        expected = reference.stats.fields[name].missing_rate
        return min(1.0, expected + config.max_missing_increase)
    return config.max_missing_rate


def compute_quality(
    frame: pd.DataFrame,
    config: QualityConfig | None = None,
    *,
    reference: ReferenceProfile | None = None,
) -> QualitySummary:
    """Missing and invalid rates of each monitored field of a window, and whether they breach.

    Args:
        frame: the window's application rows (canonical column names; absent = all missing).
        config: limits; defaults as documented in :class:`QualityConfig`.
        reference: the serving model's reference, for missing limits relative to training.
    """
    config = config or QualityConfig()
    rows = len(frame)
    rates: dict[str, tuple[float, float]] = {}
    for spec in MONITORED_FIELDS:
        if spec.name in frame.columns and rows:
            values = frame[spec.name]
            rates[spec.name] = float(values.isna().mean()), float(invalid_mask(spec, values).mean())
        else:
            rates[spec.name] = (1.0 if rows else 0.0), 0.0
    return judge_quality(rates, rows, config, reference=reference)


def judge_quality(
    rates: dict[str, tuple[float, float]],
    rows: int,
    config: QualityConfig,
    *,
    reference: ReferenceProfile | None = None,
) -> QualitySummary:
    """The verdict on a window's (missing, invalid) rate per monitored field: one rule for the
    in-memory window (:func:`compute_quality`) and the merged partitions
    (``monitoring.merged.finish_quality``)."""
    enough = rows >= config.min_rows
    results: list[FieldQuality] = []
    problems: list[str] = []
    for spec in MONITORED_FIELDS:
        limit = _missing_limit(spec.name, config, reference)
        missing, invalid = rates[spec.name]
        breach = enough and (missing > limit or invalid > config.max_invalid_rate)
        results.append(FieldQuality(name=spec.name, missing_rate=missing, invalid_rate=invalid,
                                    missing_limit=limit, breach=breach))  # fmt: skip
        if breach and missing > limit:
            problems.append(f"{spec.name}: {missing:.1%} missing (limit {limit:.1%})")
        if breach and invalid > config.max_invalid_rate:
            problems.append(
                f"{spec.name}: {invalid:.1%} invalid (limit {config.max_invalid_rate:.1%}; "
                f"expected {spec.rule()})"
            )
    breached = [r.name for r in results if r.breach]
    return QualitySummary(
        rows=rows, fields=results, breached_fields=breached, breach=bool(breached),
        problems=problems,
    )  # fmt: skip


def lookup_quality(
    enrichments: Iterable[Mapping[str, Any] | None], config: QualityConfig | None = None
) -> Lookups | None:
    """How the feature-store lookups of a window went, from the traffic log's ``enrichment``
    of each record (None for an application without a client key).

    The window is flagged when more than ``max_lookup_miss_share`` of the lookups found no
    client (and at least ``min_rows`` were looked up): the store is not being fed, or callers
    send keys it does not know; those applications were scored without their stored fields.

    Returns:
        None when no application of the window was looked up.
    """
    config = config or QualityConfig()
    outcomes: dict[str, int] = {}
    for enrichment in enrichments:
        if enrichment is not None:
            outcome = str(enrichment.get("outcome"))
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
    looked_up = sum(outcomes.values())
    if not looked_up:
        return None
    miss_share = outcomes.get("miss", 0) / looked_up
    failure_share = (outcomes.get("timeout", 0) + outcomes.get("error", 0)) / looked_up
    flagged = looked_up >= config.min_rows and miss_share > config.max_lookup_miss_share
    problem = None
    if flagged:
        problem = (
            f"feature store: {miss_share:.1%} of {looked_up} lookups found no client "
            f"(limit {config.max_lookup_miss_share:.1%})"
        )
    return Lookups(
        looked_up=looked_up, outcomes=outcomes, miss_share=miss_share,
        failure_share=failure_share, flagged=flagged, problem=problem,
    )  # fmt: skip
