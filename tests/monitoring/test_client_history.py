"""Client history from the logs: counts by window, days since, earlier defaults; the job."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd

from loan_default.traffic import TrafficWriter
from monitoring.client_history import HistoryJob, client_history, read_logs

NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)


def _prediction(pid: str, client: str | None, days_ago: float, app_id: str | None = None) -> dict:
    app: dict[str, object] = {"client_income": 5000.0}
    if client:
        app["client_id"] = client
    if app_id:
        app["application_id"] = app_id
    return {
        "prediction_id": pid, "timestamp": NOW - timedelta(days=days_ago), "model_name": "m",
        "model_version": "v1", "endpoint": "predict", "application": app,
        "default_probability": 0.1, "risk_category": "LOW",
    }  # fmt: skip


def test_history_counts_windows_recency_and_earlier_defaults(tmp_path: Path) -> None:
    predictions = TrafficWriter(tmp_path, "predictions")
    feedback = TrafficWriter(tmp_path, "feedback")
    predictions.write(
        [
            _prediction("p1", "c1", 200),  # outside 90 days, defaulted: still an earlier default
            _prediction("p2", "c1", 60),
            _prediction("p3", "c1", 2, app_id="A3"),
            _prediction("p3x", "c1", 2, app_id="A3"),  # the same application explained: once
            _prediction("p4", "c2", 10),
            _prediction("p5", None, 1),  # no client key: no history
            _prediction("p6", "c3", 400),  # older than the lookback: not read
            _prediction("p7", "c4", -1),  # after now (clock skew): ignored
        ]
    )
    feedback.write(
        [
            {"prediction_id": "p1", "observed_default": 1, "timestamp": NOW - timedelta(days=20)},
            {"prediction_id": "p2", "observed_default": 0, "timestamp": NOW - timedelta(days=5)},
        ]
    )
    predictions.close()
    feedback.close()
    applications, outcomes = read_logs(tmp_path, NOW)
    rows = client_history(applications, outcomes, NOW).set_index("client_id")
    assert sorted(rows.index) == ["c1", "c2"]
    c1 = rows.loc["c1"]
    assert (c1["applications_30d"], c1["applications_90d"], c1["previous_defaults"]) == (1, 2, 1)
    assert c1["days_since_previous_application"] == 2.0
    assert rows.loc["c2", "applications_90d"] == 1 and rows.loc["c2", "previous_defaults"] == 0
    assert (rows["event_timestamp"] == pd.Timestamp(NOW)).all()


def test_the_job_pushes_on_its_schedule(tmp_path: Path) -> None:
    writer = TrafficWriter(tmp_path, "predictions")
    writer.write([_prediction("p1", "c1", 1)])
    writer.close()
    pushed: list[pd.DataFrame] = []

    def push(rows: pd.DataFrame) -> int:
        pushed.append(rows)
        return len(rows)

    job = HistoryJob(tmp_path, push, every=3600)
    assert job.due(NOW) and job.run(NOW).clients == 1
    assert not job.due(NOW + timedelta(minutes=59)) and job.due(NOW + timedelta(hours=1))
    assert pushed[0]["client_id"].tolist() == ["c1"]


def test_the_sidecar_pushes_history_once_the_repository_exists(tmp_path: Path) -> None:
    from loan_default.feature_store.repository import write_repository
    from loan_default.feature_store.settings import FeatureStoreSettings
    from monitoring.metrics import SidecarMetrics
    from monitoring.sidecar import Sidecar
    from tests.monitoring.sidecar_world import sidecar_config, sidecar_settings

    settings = sidecar_settings(tmp_path)
    clock = [NOW]
    metrics = SidecarMetrics()

    def sidecar() -> Sidecar:
        return Sidecar(settings, sidecar_config(), metrics=metrics, clock=lambda: clock[0],
                       evidently=False)  # fmt: skip

    alone = sidecar()
    assert alone.history is None  # no feature repository: nothing to push to
    alone.close()
    writer = TrafficWriter(settings.traffic_path, "predictions")
    writer.write([_prediction("p1", "c1", 1)])
    writer.close()
    write_repository(FeatureStoreSettings(home=tmp_path))  # generated, never applied
    car = sidecar()
    assert car.history is not None

    def store_down(rows: pd.DataFrame) -> int:
        raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    car.history.push = store_down
    car.step(flush=False, wait_training=False, results=[])  # logged and counted, not raised
    failures = metrics.registry.get_sample_value("loan_feature_history_failures_total")
    assert failures == 1 and car.history.last is None
    pushed: list[pd.DataFrame] = []

    def push(rows: pd.DataFrame) -> int:
        pushed.append(rows)
        return len(rows)

    car.history.push = push
    clock[0] = NOW + timedelta(seconds=30)
    car.step(flush=False, wait_training=False, results=[])
    assert not pushed  # a failed push is retried a minute later, not at every poll
    clock[0] = NOW + timedelta(minutes=1)
    car.step(flush=False, wait_training=False, results=[])
    car.close()
    assert pushed[0]["client_id"].tolist() == ["c1"]
    assert metrics.registry.get_sample_value("loan_feature_history_clients") == 1
    pushed_at = metrics.registry.get_sample_value("loan_feature_history_pushed_timestamp_seconds")
    assert pushed_at == clock[0].timestamp()
