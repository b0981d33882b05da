"""Retraining triggers: the brief's four conditions, and the cooldown that debounces them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitoring.results import Labelled, Segment
from monitoring.settings import TriggerConfig
from monitoring.triggers import TriggerState, combined_reason, evaluate

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
TRAINED = NOW - timedelta(days=3)


def segment(*, drifted: int = 0, auc: float | None = None, records: int = 1000) -> Segment:
    names = [f"f{i}" for i in range(drifted)]
    return Segment(
        model_version="v1",
        records=records,
        drift_score=drifted / 40,
        drifted_features=names,
        features=[],
        score_psi=0.0,
        score_band="stable",
        labelled=Labelled(n=500, positives=50, auc=auc) if auc is not None else None,
    )


def run(
    seg: Segment,
    state: TriggerState | None = None,
    *,
    now: datetime = NOW,
    times: list[datetime] | None = None,
    created: datetime = TRAINED,
    **config: float,
):
    return evaluate(
        [seg],
        window_id="w000001",
        created_at={"v1": created},
        record_times=times if times is not None else [now] * seg.records,
        state=state or TriggerState(),
        config=TriggerConfig(**config),
        now=now,
    )


def test_drift_fires_above_three_features_only() -> None:
    assert run(segment(drifted=3)).fired == []
    [event] = run(segment(drifted=4)).fired
    assert event.trigger == "drift"
    assert event.value == 4 and event.threshold == 3
    assert "f0, f1, f2, f3" in event.reason


def test_performance_fires_below_auc_threshold_and_not_without_labels() -> None:
    assert run(segment(auc=0.76)).fired == []
    assert run(segment(auc=None)).fired == []
    [event] = run(segment(auc=0.70)).fired
    assert event.trigger == "performance"
    assert "0.700 < 0.75" in event.reason


def test_schedule_fires_when_the_model_is_a_month_old() -> None:
    assert run(segment(), created=NOW - timedelta(days=29)).fired == []
    [event] = run(segment(), created=NOW - timedelta(days=31)).fired
    assert event.trigger == "schedule"


def test_schedule_counts_from_the_last_retraining_the_sidecar_started() -> None:
    state = TriggerState(last_training_at=NOW - timedelta(days=2))
    assert run(segment(), state, created=NOW - timedelta(days=90)).fired == []


def test_volume_counts_applications_after_training_across_windows() -> None:
    state = TriggerState()
    old = [TRAINED - timedelta(hours=1)] * 3000  # scored before the training: not counted
    for _ in range(3):
        out = run(segment(records=3000), state, times=[NOW] * 3000)
        assert out.fired == []
        state = out.state
    assert state.applications == 9000
    out = run(segment(records=3000), state, times=old)
    assert out.fired == [] and out.state.applications == 9000
    [event] = run(segment(records=3000), out.state, times=[NOW] * 3000).fired
    assert event.trigger == "volume" and event.value == 12_000


def test_a_new_model_restarts_the_volume_count() -> None:
    state = run(segment(records=9000)).state
    newer = run(segment(records=2000), state, created=NOW - timedelta(hours=1))
    assert newer.fired == []
    assert newer.state.applications == 2000


def test_cooldown_debounces_a_lasting_condition() -> None:
    first = run(segment(drifted=5))
    assert [e.trigger for e in first.fired] == ["drift"]
    later = run(segment(drifted=5), first.state, now=NOW + timedelta(hours=2))
    assert later.fired == []
    assert later.suppressed and later.suppressed[0].startswith("drift:")
    next_day = run(segment(drifted=5), later.state, now=NOW + timedelta(hours=25))
    assert [e.trigger for e in next_day.fired] == ["drift"]


def test_disabled_triggers_never_fire() -> None:
    out = run(
        segment(drifted=10, auc=0.5),
        created=NOW - timedelta(days=400),
        drifted_features_above=None,  # type: ignore[arg-type]
        auc_below=None,  # type: ignore[arg-type]
        max_model_age_days=None,  # type: ignore[arg-type]
    )
    assert out.fired == []


def test_several_triggers_make_one_reason() -> None:
    out = run(segment(drifted=5, auc=0.6))
    assert {e.trigger for e in out.fired} == {"drift", "performance"}
    reason = combined_reason(out.fired)
    assert reason.startswith("monitoring: ")
    assert "drift (" in reason and "performance (" in reason and "w000001" in reason
