"""Retention of logs, quarantine and reports; a running sidecar across an erasure."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from loan_default.model import ScoringModel
from loan_default.security.audit_verify import entries
from loan_default.security.settings import SecuritySettings
from loan_default.traffic import Checkpoint, PredictionRecord, read_new
from monitoring.privacy import erase
from monitoring.retention import Targets, enforce
from monitoring.settings import RetentionConfig
from monitoring.sidecar import Sidecar
from monitoring.state import MonitorState
from tests.monitoring.sidecar_world import (
    register_model,
    sidecar_config,
    sidecar_settings,
    write_traffic,
)

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
CONFIG = RetentionConfig(traffic_days=30, feedback_window_days=60, feedback_days=30,
                         quarantine_days=10, report_days=30)  # fmt: skip


def _day(traffic: Path, kind: str, days_ago: int) -> Path:
    folder = traffic / kind / f"{NOW - timedelta(days=days_ago):%Y-%m-%d}"
    folder.mkdir(parents=True)
    (folder / "host-1.jsonl").write_bytes(b'{"prediction_id": "x"}\n')
    return folder


def test_retention_deletes_expired_days_holds_open_windows_and_audits(tmp_path: Path) -> None:
    settings = sidecar_settings(tmp_path)
    traffic = settings.traffic_path
    fresh = _day(traffic, "predictions", 5)
    window_open = _day(traffic, "predictions", 45)  # past traffic_days, feedback still possible
    expired = _day(traffic, "predictions", 90)
    unread = _day(traffic, "predictions", 100)
    old_feedback = _day(traffic, "feedback", 40)
    state = MonitorState(settings.state_db)
    with state.transaction() as db:  # the sidecar has read all but `unread`
        offsets = {str(p.relative_to(traffic)): p.stat().st_size
                   for f in (fresh, window_open, expired) for p in f.glob("*.jsonl")}  # fmt: skip
        MonitorState.save_checkpoint(db, "predictions", Checkpoint(offsets=offsets))
        feedback = {str(p.relative_to(traffic)): 23 for p in old_feedback.glob("*.jsonl")}
        MonitorState.save_checkpoint(db, "feedback", Checkpoint(offsets=feedback))
    settings.quarantine_path.parent.mkdir(parents=True, exist_ok=True)
    settings.quarantine_path.write_bytes(b"".join(
        orjson.dumps({"kind": "predictions", "file": "f", "offset": n, "line": "...",
                      "quarantined_at": (NOW - timedelta(days=age)).isoformat()}) + b"\n"
        for n, age in enumerate((1, 20, 30))))  # fmt: skip
    targets = Targets.of(settings)

    planned = enforce(targets, CONFIG, now=NOW, dry_run=True, state=state)
    assert fresh.exists() and expired.exists() and settings.quarantine_path.stat().st_size
    done = enforce(targets, CONFIG, now=NOW, dry_run=False, state=state)
    assert planned.deleted == done.deleted
    assert sorted(done.deleted) == sorted([
        ("traffic", expired.name), ("feedback", old_feedback.name),
        ("quarantine", "f@1"), ("quarantine", "f@2")])  # fmt: skip
    held = {item: why for _, item, why in done.held}
    assert held[window_open.name].startswith("feedback window open until")
    assert held[unread.name] == "not yet read by the monitoring sidecar"
    assert fresh.exists() and window_open.exists() and unread.exists()
    assert not expired.exists() and not old_feedback.exists()
    assert len(settings.quarantine_path.read_bytes().splitlines()) == 1
    cursor = state.checkpoint("predictions")
    assert not any(k.startswith(f"predictions/{expired.name}") for k in cursor.offsets)
    state.close()
    audit = SecuritySettings(home=tmp_path).audit_path
    kinds = sorted(e["kind"] for e in entries(audit) if e["event"] == "retention.deleted")
    assert kinds == ["feedback", "quarantine", "traffic"]


@pytest.fixture(scope="module")
def model() -> ScoringModel:
    return register_model("vmon-records")


def test_a_running_sidecar_rereads_after_an_erasure(tmp_path: Path, model: ScoringModel) -> None:
    settings = sidecar_settings(tmp_path)
    ids = write_traffic(settings.traffic_path, model, "vmon-records", rows=1500, seed=31)
    records, _ = read_new(settings.traffic_path, "predictions", Checkpoint(),
                          model=PredictionRecord)  # fmt: skip
    applicant_of = {r.prediction_id: str(r.application["application_id"]) for r in records}
    config = sidecar_config(retrain={"enabled": False})
    car = Sidecar(settings, config, evidently=False)
    try:
        car.step(flush=False, wait_training=True, results=[])  # one window; 500 in memory
        gone = {ids[10], ids[1200]}  # one analysed, one waiting in the open window
        for pid in gone:
            erase(settings.traffic_path, settings.state_db, settings.quarantine_path,
                  applicant_of[pid])  # fmt: skip
        car.run_once()
    finally:
        car.close()
    with sqlite3.connect(settings.state_db) as db:
        stored = {row[0] for row in db.execute("SELECT prediction_id FROM predictions")}
    assert stored == set(ids) - gone
