"""Retraining triggers: when a window says the serving model should be retrained.

The brief's four triggers, each configurable (``configs/monitoring.yaml`` -> ``triggers``):

* ``performance``: labelled AUC below ``auc_below`` (0.75);
* ``drift``: more than ``drifted_features_above`` (3) drifted fields;
* ``schedule``: the serving model (or the last retraining the sidecar started) is older than
  ``max_model_age_days`` (30): the monthly retraining;
* ``volume``: ``applications_since_training`` (10,000) applications scored since then.

A fired trigger stays quiet for ``cooldown_hours`` (debounce), so a drift that lasts a week
starts one retraining a day, not one per window. Evaluation is a pure function of the window,
the previous :class:`TriggerState` and the clock; the sidecar persists the new state in the
same transaction as the window's checkpoint.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pydantic import BaseModel, Field

from monitoring.results import Segment, TriggerEvent
from monitoring.settings import TriggerConfig


class TriggerState(BaseModel):
    """What the triggers remember between windows."""

    last_fired: dict[str, datetime] = Field(default_factory=dict)
    last_training_at: datetime | None = Field(
        None, description="When the sidecar last started a retraining."
    )
    volume_since: datetime | None = Field(None, description="Applications are counted after.")
    applications: int = Field(0, description="Applications scored since ``volume_since``.")


@dataclass
class Evaluation:
    fired: list[TriggerEvent]
    suppressed: list[str] = field(default_factory=list)
    """Conditions that held but were silenced by the cooldown, in words."""
    state: TriggerState = field(default_factory=TriggerState)


def evaluate(
    segments: list[Segment],
    *,
    window_id: str,
    created_at: Mapping[str, datetime],
    record_times: Sequence[datetime],
    state: TriggerState,
    config: TriggerConfig,
    now: datetime,
) -> Evaluation:
    """Decide which triggers fire for one window.

    Args:
        segments: the window's analysed model versions.
        window_id: the window, for the events.
        created_at: when each model version in the window was trained.
        record_times: when each of the window's applications was scored (the volume trigger
            counts those after the last training).
        state: the triggers' memory before this window.
        config: thresholds and cooldown.
        now: the clock.
    """
    state = state.model_copy(deep=True)
    candidates: list[TriggerEvent] = []

    def event(trigger: str, seg: Segment, reason: str, value: float, threshold: float) -> None:
        candidates.append(
            TriggerEvent(
                trigger=trigger,
                reason=reason,
                model_version=seg.model_version,
                window_id=window_id,
                at=now,
                value=value,
                threshold=threshold,
            )
        )

    baseline = training_baseline(created_at, state)
    if baseline is not None and state.volume_since != baseline:
        state.volume_since, state.applications = baseline, 0
    if baseline is not None:
        state.applications += sum(1 for t in record_times if t > baseline)

    for seg in segments:
        auc = seg.labelled.auc if seg.labelled else None
        if config.auc_below is not None and auc is not None and auc < config.auc_below:
            n = seg.labelled.n if seg.labelled else 0
            why = f"labelled AUC {auc:.3f} < {config.auc_below} on {n} outcomes"
            event("performance", seg, why, auc, config.auc_below)
        drifted, limit = seg.drifted_features, config.drifted_features_above
        if limit is not None and len(drifted) > limit:
            why = f"{len(drifted)} drifted fields > {limit}: {', '.join(drifted)}"
            event("drift", seg, why, len(drifted), limit)
    primary = max(segments, key=lambda s: s.records, default=None)
    if primary is not None and baseline is not None:
        age = (now - baseline).total_seconds() / 86_400
        max_age = config.max_model_age_days
        if max_age is not None and age >= max_age:
            event(
                "schedule",
                primary,
                f"last training {age:.1f} days ago >= {max_age:g}",
                age,
                max_age,
            )
        volume = config.applications_since_training
        if volume is not None and state.applications >= volume:
            why = f"{state.applications} applications scored since the last training >= {volume}"
            event("volume", primary, why, state.applications, volume)

    cooldown = timedelta(hours=config.cooldown_hours)
    fired: list[TriggerEvent] = []
    suppressed: list[str] = []
    for ev in candidates:
        last = state.last_fired.get(ev.trigger)
        if last is not None and now - last < cooldown:
            suppressed.append(
                f"{ev.trigger}: {ev.reason} (quiet until {last + cooldown:%Y-%m-%d %H:%M} UTC)"
            )
            continue
        if any(f.trigger == ev.trigger for f in fired):
            continue  # one event per trigger and window, whichever version raised it first
        fired.append(ev)
    for ev in fired:
        state.last_fired[ev.trigger] = now
        if ev.trigger == "volume":
            state.applications = 0
    return Evaluation(fired=fired, suppressed=suppressed, state=state)


def training_baseline(created_at: Mapping[str, datetime], state: TriggerState) -> datetime | None:
    """When the serving model was last (re)trained: its newest version's creation or the last
    retraining the sidecar started, whichever is later."""
    instants = [*created_at.values()]
    if state.last_training_at is not None:
        instants.append(state.last_training_at)
    return max(instants, default=None)


def combined_reason(events: list[TriggerEvent]) -> str:
    """One reason for the training run that several triggers asked for."""
    return "monitoring: " + "; ".join(
        f"{e.trigger} ({e.reason}, window {e.window_id})" for e in events
    )
