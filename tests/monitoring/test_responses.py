"""Responses: the retraining a trigger starts, and the scoring pause a quality breach sets."""

from __future__ import annotations

import threading
from pathlib import Path

from loan_default import control
from monitoring.responses import (
    Retrainer,
    RetrainOutcome,
    TriggerLog,
    pause_scoring,
)


def outcome(reason: str) -> RetrainOutcome:
    return RetrainOutcome(bento_tag="loan_default:v2", mlflow_version="2", metrics={"auc": 0.8})


def test_quality_breach_pauses_once_and_keeps_the_first_reason(tmp_path: Path) -> None:
    log = TriggerLog(tmp_path / "triggers.jsonl")
    first = pause_scoring(tmp_path, "client_income: 60% missing", log)
    again = pause_scoring(tmp_path, "another breach", log)
    assert first.by == "monitoring" and again.reason == "client_income: 60% missing"
    assert control.status(tmp_path) == first
    assert [e["event"] for e in log.read()] == ["scoring_paused"]
    assert control.resume(tmp_path)


def test_retraining_is_logged_from_start_to_registered_model(tmp_path: Path) -> None:
    log = TriggerLog(tmp_path / "triggers.jsonl")
    retrainer = Retrainer(outcome, log)
    assert retrainer.start("monitoring: drift", wait=True)
    retrainer.close()
    events = log.read()
    assert [e["event"] for e in events] == ["retrain_started", "retrain_finished"]
    assert events[1]["bento_tag"] == "loan_default:v2"
    assert events[1]["reason"] == "monitoring: drift"


def test_a_failed_training_is_logged_and_monitoring_goes_on(tmp_path: Path) -> None:
    def broken(reason: str) -> RetrainOutcome:
        raise ValueError("training data has no defaults")

    log = TriggerLog(tmp_path / "triggers.jsonl")
    retrainer = Retrainer(broken, log)
    assert retrainer.start("monitoring: schedule", wait=True)
    retrainer.close()
    failed = log.read()[-1]
    assert failed["event"] == "retrain_failed"
    assert "ValueError: training data has no defaults" in failed["error"]


def test_one_training_at_a_time_and_none_when_disabled(tmp_path: Path) -> None:
    release = threading.Event()

    def slow(reason: str) -> RetrainOutcome:
        release.wait(10)
        return outcome(reason)

    log = TriggerLog(tmp_path / "triggers.jsonl")
    retrainer = Retrainer(slow, log)
    assert retrainer.start("first", wait=False)
    assert retrainer.busy
    assert not retrainer.start("second", wait=False)
    release.set()
    retrainer.close()
    assert not Retrainer(None, log).start("third", wait=True)
    skipped = [e for e in log.read() if e["event"] == "retrain_skipped"]
    assert [e["reason"] for e in skipped] == ["second", "third"]
    assert "already running" in skipped[0]["why"] and "disabled" in skipped[1]["why"]
