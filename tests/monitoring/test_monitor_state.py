"""The sidecar's SQLite state: outcomes joined to predictions, checkpoints, retention."""

from __future__ import annotations

import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

from loan_default.traffic import Checkpoint, FeedbackRecord, PredictionRecord
from monitoring.metrics import SidecarMetrics
from monitoring.state import MonitorState

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def prediction(i: int, at: datetime, version: str = "v1") -> PredictionRecord:
    return PredictionRecord(
        prediction_id=f"p{i}",
        timestamp=at,
        model_name="loan_default",
        model_version=version,
        endpoint="predict",
        application={"client_gender": "female" if i % 2 else "male", "age_days": 12000.0 + i},
        default_probability=i / 100,
        risk_category="LOW",
    )


def outcome(i: int, y: int, at: datetime = T0) -> FeedbackRecord:
    return FeedbackRecord(prediction_id=f"p{i}", observed_default=y, timestamp=at)


def test_outcomes_join_predictions_of_one_model_latest_first(tmp_path: Path) -> None:
    state = MonitorState(tmp_path / "state.db")
    # An outcome may arrive before its prediction's window is stored: it waits in the table.
    state.add_feedback([outcome(3, 1)], Checkpoint(offsets={"feedback/a.jsonl": 10}))
    with state.transaction() as db:
        records = [prediction(i, T0) for i in range(4)] + [prediction(9, T0, version="v2")]
        MonitorState.add_predictions(db, "w1", records, ["age_days", "client_gender"])
    state.add_feedback([outcome(1, 0), outcome(9, 1)], Checkpoint(offsets={"feedback/a.jsonl": 30}))
    state.add_feedback([outcome(1, 1)], Checkpoint(offsets={"feedback/a.jsonl": 40}))  # corrected
    joined = state.labelled("v1", limit=10)
    assert joined["observed_default"].tolist() == [1, 1]  # p1 (latest, corrected), then p3
    assert joined["probability"].tolist() == [0.01, 0.03]
    assert joined["client_gender"].tolist() == ["female", "female"]
    assert joined["age_days"].tolist() == [12001.0, 12003.0]
    assert state.labelled("v1", limit=1)["probability"].tolist() == [0.01]
    assert state.checkpoint("feedback").offsets == {"feedback/a.jsonl": 40}
    assert state.checkpoint("predictions") == Checkpoint()
    state.close()


def test_a_rolled_back_transaction_leaves_nothing(tmp_path: Path) -> None:
    state = MonitorState(tmp_path / "state.db")
    try:
        with state.transaction() as db:
            MonitorState.add_predictions(db, "w1", [prediction(1, T0)], [])
            MonitorState.save_checkpoint(db, "predictions", Checkpoint(offsets={"f": 99}))
            raise RuntimeError("killed")
    except RuntimeError:
        pass
    assert state.count("predictions") == 0
    assert state.checkpoint("predictions") == Checkpoint()
    state.close()


def test_prune_by_age_and_by_size_keeps_pending_outcomes(tmp_path: Path) -> None:
    state = MonitorState(tmp_path / "state.db")
    with state.transaction() as db:
        records = [prediction(i, T0 + timedelta(days=i)) for i in range(10)]
        MonitorState.add_predictions(db, "w1", records, [])
    old = T0 - timedelta(days=30)
    state.add_feedback(
        [outcome(0, 1, old), outcome(42, 0, old), outcome(43, 0, T0 + timedelta(days=5))],
        Checkpoint(),
    )
    removed = state.prune(older_than=T0 + timedelta(days=2), max_predictions=5)
    assert removed == 5  # p0, p1 by age; p2..p4 beyond the newest five
    assert state.count("predictions") == 5
    # Outcomes of pruned predictions go once old; a recent one for an unknown prediction stays.
    assert state.count("feedback") == 1
    state.close()


def test_metrics_are_served_over_http() -> None:
    metrics = SidecarMetrics()
    metrics.beat()
    server = metrics.serve("127.0.0.1", 3307)
    try:
        with urllib.request.urlopen("http://127.0.0.1:3307/metrics", timeout=10) as response:
            body = response.read().decode()
    finally:
        server.shutdown()
        server.server_close()
    assert "loan_monitor_heartbeat_timestamp_seconds " in body
    assert "# TYPE loan_drift_score gauge" in body
