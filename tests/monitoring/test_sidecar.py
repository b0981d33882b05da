"""The sidecar end to end: traffic log -> windows -> report, metrics, triggers, restarts."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from loan_default import control
from loan_default.data.shifts import Shift
from loan_default.model import ScoringModel
from monitoring import sidecar as sidecar_module
from monitoring.metrics import SidecarMetrics
from monitoring.report import load_reports
from monitoring.responses import RetrainOutcome, TriggerLog
from monitoring.sidecar import Sidecar
from tests.monitoring.sidecar_world import (
    BIG_SHIFT,
    register_model,
    sidecar_config,
    sidecar_settings,
    write_traffic,
)

VERSION = "vmon-sidecar"


@pytest.fixture(scope="module")
def model() -> ScoringModel:
    return register_model(VERSION)


class FakeTrainer:
    """Records the reasons it was asked to train for."""

    def __init__(self) -> None:
        self.reasons: list[str] = []

    def __call__(self, reason: str) -> RetrainOutcome:
        self.reasons.append(reason)
        return RetrainOutcome(bento_tag="loan_default:vnew", mlflow_version="9", metrics={})


def sample(metrics: SidecarMetrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels or None)


@pytest.mark.slow  # renders Evidently's page too
def test_drifted_window_is_caught_reported_published_and_triggers_training(
    tmp_path: Path, model: ScoringModel
) -> None:
    settings = sidecar_settings(tmp_path)
    trainer = FakeTrainer()
    config = sidecar_config(triggers={"auc_below": None})  # the tiny model's AUC is ~0.75
    write_traffic(settings.traffic_path, model, VERSION, rows=1000, seed=11)

    metrics = SidecarMetrics()
    car = Sidecar(settings, config, trainer=trainer, metrics=metrics, evidently=False)
    [normal] = car.run_once()
    car.close()
    [seg] = normal.segments
    assert seg.records == 1000 and seg.model_version == VERSION
    assert len(seg.drifted_features) <= 1
    assert normal.triggers == []
    assert seg.labelled is not None and seg.labelled.n == 1000 and seg.labelled.auc is not None
    assert sample(metrics, "loan_model_auc", model_version=VERSION) == pytest.approx(
        seg.labelled.auc
    )

    # A restarted sidecar picks up where the last one stopped, and sees the shift.
    write_traffic(settings.traffic_path, model, VERSION, rows=1000, seed=12, shift=BIG_SHIFT)
    metrics = SidecarMetrics()
    car = Sidecar(settings, config, trainer=trainer, metrics=metrics, evidently=True)
    [shifted] = car.run_once()
    car.close()
    [seg] = shifted.segments
    assert set(BIG_SHIFT.features) <= set(seg.drifted_features)
    assert [t.trigger for t in shifted.triggers] == ["drift"]
    assert len(trainer.reasons) == 1 and "drift (" in trainer.reasons[0]

    # The report: JSON + page + index, the triggers in it.
    reports = load_reports(settings.reports_path)
    assert [r.window_id for r in reports] == [shifted.window_id, normal.window_id]
    page = (settings.reports_path / shifted.window_id / "index.html").read_text()
    assert "client_income" in page and "retraining requested" in page
    evidently_page = settings.reports_path / shifted.window_id / f"evidently-{VERSION}.html"
    assert seg.evidently_report == evidently_page.name and evidently_page.stat().st_size > 10_000
    assert "client_income" in seg.details["evidently_drifted_columns"]
    assert shifted.window_id in (settings.reports_path / "index.html").read_text()

    # The trigger log: why, and what the training registered.
    events = TriggerLog(settings.trigger_log).read()
    kinds = [e["event"] for e in events]
    assert kinds.count("trigger") >= 1 and "retrain_started" in kinds
    assert events[-1]["event"] == "retrain_finished"
    assert events[-1]["bento_tag"] == "loan_default:vnew"

    # The metrics.
    assert (
        sample(metrics, "loan_feature_drift", model_version=VERSION, feature="client_income") == 1
    )
    assert sample(metrics, "loan_drifted_features", model_version=VERSION) == len(
        seg.drifted_features
    )
    assert sample(metrics, "loan_drift_score", model_version=VERSION) == pytest.approx(
        seg.drift_score
    )
    assert sample(metrics, "loan_monitor_records_processed_total", kind="predictions") == 1000
    assert sample(metrics, "loan_monitor_triggers_total", trigger="drift") == 1
    assert (sample(metrics, "loan_monitor_last_window_timestamp_seconds") or 0) > 0
    assert (sample(metrics, "loan_monitor_heartbeat_timestamp_seconds") or 0) > 0


def test_the_cooldown_keeps_a_lasting_drift_to_one_training(
    tmp_path: Path, model: ScoringModel
) -> None:
    settings = sidecar_settings(tmp_path)
    trainer = FakeTrainer()
    write_traffic(settings.traffic_path, model, VERSION, rows=2000, seed=13, shift=BIG_SHIFT)
    config = sidecar_config(triggers={"auc_below": None})
    car = Sidecar(settings, config, trainer=trainer, evidently=False)
    results = car.run_once()
    car.close()
    assert len(results) == 2
    assert all(len(r.segments[0].drifted_features) > 3 for r in results)
    assert [t.trigger for t in results[0].triggers] == ["drift"]
    labelled = results[1].segments[0].labelled
    assert labelled is not None and labelled.training_auc == 0.8  # from roc_auc_mean
    assert results[1].segments[0].details["performance"]["auc_drop"] is not None
    assert results[1].triggers == []
    assert len(trainer.reasons) == 1


def test_a_crash_mid_window_neither_skips_nor_double_counts(
    tmp_path: Path, model: ScoringModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = sidecar_settings(tmp_path)
    ids = write_traffic(settings.traffic_path, model, VERSION, rows=2500, seed=14)
    config = sidecar_config(retrain={"enabled": False})
    real_write = sidecar_module.write_window_report
    calls = {"n": 0}

    def crash_on_second(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("disk full")  # dies after the 2nd window's predictions were stored
        return real_write(*args, **kwargs)

    monkeypatch.setattr(sidecar_module, "write_window_report", crash_on_second)
    car = Sidecar(settings, config, evidently=False)
    with pytest.raises(OSError, match="disk full"):
        car.run_once()
    car.close()
    monkeypatch.setattr(sidecar_module, "write_window_report", real_write)

    car = Sidecar(settings, config, evidently=False)
    rest = car.run_once()
    car.close()
    reports = sorted(load_reports(settings.reports_path), key=lambda r: r.window_id)
    assert [r.window_id[:7] for r in reports] == ["w000001", "w000002", "w000003"]
    assert [r.window_id for r in rest] == [r.window_id for r in reports[1:]]
    assert sum(r.records for r in reports) == len(ids) == 2500
    with sqlite3.connect(settings.state_db) as db:
        stored = {row[0] for row in db.execute("SELECT prediction_id FROM predictions")}
    assert stored == set(ids)

    # Restarted again: the latest window's gauges are back before any new window (alerts keep
    # their state), counters start from zero.
    restored = SidecarMetrics()
    Sidecar(settings, config, metrics=restored, evidently=False).close()
    assert sample(restored, "loan_monitor_window_records") == reports[-1].records
    drift = sample(restored, "loan_drift_score", model_version=VERSION)
    assert drift == pytest.approx(reports[-1].segments[0].drift_score)
    assert sample(restored, "loan_monitor_windows_total") == 0


def test_a_data_quality_breach_pauses_scoring(tmp_path: Path, model: ScoringModel) -> None:
    settings = sidecar_settings(tmp_path)
    incident = Shift("incident", missing={"score_source_2": 0.9, "loan_annuity": 0.9})
    write_traffic(settings.traffic_path, model, VERSION, rows=600, seed=15, shift=incident)
    car = Sidecar(settings, sidecar_config(retrain={"enabled": False}), evidently=False)
    [result] = car.run_once()
    car.close()
    assert result.segments[0].quality_breach
    state = control.status(settings.home)
    assert state is not None and state.by == "monitoring" and result.window_id in state.reason
    assert result.paused == state.reason
    assert control.resume(settings.home)


def test_feature_store_misses_are_flagged_published_and_never_pause(
    tmp_path: Path, model: ScoringModel
) -> None:
    settings = sidecar_settings(tmp_path)

    def note(i: int) -> dict[str, object] | None:
        if i % 5 == 4:
            return None  # no client key: not looked up
        outcome = "miss" if i % 5 in (0, 1) else "timeout" if i % 5 == 2 else "hit"
        return {"outcome": outcome, "fields": {}, "rejected": []}

    write_traffic(settings.traffic_path, model, VERSION, rows=500, seed=16, enrichment=note)
    metrics = SidecarMetrics()
    car = Sidecar(settings, sidecar_config(), metrics=metrics, evidently=False)
    [result] = car.run_once()
    car.close()
    lookups = result.segments[0].lookups
    assert lookups is not None
    assert lookups.looked_up == 400
    assert lookups.outcomes == {"miss": 200, "timeout": 100, "hit": 100}
    assert (lookups.miss_share, lookups.failure_share) == (0.5, 0.25)
    assert lookups.flagged and lookups.problem is not None and "50.0% of 400" in lookups.problem
    assert sample(metrics, "loan_feature_lookup_miss_share", model_version=VERSION) == 0.5
    assert sample(metrics, "loan_feature_lookup_failure_share", model_version=VERSION) == 0.25
    assert sample(metrics, "loan_feature_lookup_window_records", model_version=VERSION) == 400
    assert result.paused is None and control.status(settings.home) is None
    page = (settings.reports_path / result.window_id / "index.html").read_text()
    assert "Feature store" in page and "400 applications looked up" in page


@pytest.mark.slow
def test_sigkill_mid_log_then_restart_counts_every_record_once(
    tmp_path: Path, model: ScoringModel
) -> None:
    """A real ``loanctl monitor run`` killed with SIGKILL while windows are being written."""
    settings = sidecar_settings(tmp_path)
    ids = write_traffic(settings.traffic_path, model, VERSION, rows=3000, seed=16)
    config = {
        "windows": {"max_records": 300, "max_seconds": 86_400, "min_records": 100},
        "fairness": {"attributes": ["client_gender"]},  # fairlearn is the slow part
        "retrain": {"enabled": False},
    }
    settings.monitor_config.write_text(yaml.safe_dump(config))
    env = os.environ | {
        "LOAN_HOME": str(tmp_path),
        "LOAN_MONITOR_CONFIG": str(settings.monitor_config),
    }
    command = [
        sys.executable,
        "-m",
        "loanctl.cli",
        "monitor",
        "run",
        "--once",
        "--no-evidently",
    ]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 180
        while not (settings.reports_path / "index.html").exists():
            assert proc.poll() is None, "the sidecar ended before writing a window"
            assert time.monotonic() < deadline, "no window written in 180 s"
            time.sleep(0.05)
        time.sleep(0.3)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    done = len(load_reports(settings.reports_path))
    assert 0 < done < 10, f"kill landed after {done} of 10 windows"

    finished = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr[-2000:]
    reports = load_reports(settings.reports_path)
    assert len(reports) == 10
    assert sum(r.records for r in reports) == len(ids)
    with sqlite3.connect(settings.state_db) as db:
        stored = {row[0] for row in db.execute("SELECT prediction_id FROM predictions")}
    assert stored == set(ids)


def test_traffic_of_an_unknown_model_is_reported_not_fatal(
    tmp_path: Path, model: ScoringModel
) -> None:
    settings = sidecar_settings(tmp_path)
    write_traffic(settings.traffic_path, model, "vnot-registered", rows=300, seed=17)
    car = Sidecar(settings, sidecar_config(retrain={"enabled": False}), evidently=False)
    [result] = car.run_once()
    assert car.run_once() == []  # consumed: the next pass reads nothing
    car.close()
    assert result.segments == [] and result.skipped == {"loan_default:vnot-registered": 300}
    assert "not in the Bento model store" in result.errors[0]
    page = (settings.reports_path / result.window_id / "index.html").read_text()
    assert "300 records of loan_default:vnot-registered not analysed" in page


def test_the_long_running_loop_analyses_new_traffic_until_stopped(
    tmp_path: Path, model: ScoringModel
) -> None:
    settings = sidecar_settings(tmp_path).model_copy(update={"monitor_poll_seconds": 0.1})
    metrics = SidecarMetrics()
    car = Sidecar(settings, sidecar_config(retrain={"enabled": False}), metrics=metrics,
                  evidently=False)  # fmt: skip
    stop = threading.Event()
    loop = threading.Thread(target=car.run_forever, args=(stop,))
    loop.start()
    try:
        write_traffic(settings.traffic_path, model, VERSION, rows=1000, seed=18)
        deadline = time.monotonic() + 120
        while sample(metrics, "loan_monitor_windows_total") != 1:
            assert loop.is_alive() and time.monotonic() < deadline
            time.sleep(0.1)
    finally:
        stop.set()
        loop.join(timeout=60)
    car.close()
    assert not loop.is_alive()
    assert sample(metrics, "loan_monitor_records_processed_total", kind="predictions") == 1000
    assert sample(metrics, "loan_monitor_records_processed_total", kind="feedback") == 1000


@pytest.mark.slow
def test_a_drift_trigger_registers_a_challenger_through_the_training_pipeline(
    tmp_path: Path, model: ScoringModel
) -> None:
    """The real loop: drift -> trigger -> training.pipeline.run_training -> MLflow challenger."""
    from loan_default.data.generate import generate_applications
    from loanctl.flows import flow_trainer
    from monitoring.settings import RetrainConfig
    from training import registry

    data = tmp_path / "applications.parquet"
    generate_applications(3000, seed=19).to_parquet(data)
    fast = tmp_path / "training.yaml"
    fast.write_text(
        yaml.safe_dump(
            {
                "seed": 1, "folds": 2, "test_size": 0, "n_jobs": 1,
                "search": {"budget_seconds": 0},
                "candidates": [{
                    "name": "lightgbm", "algorithm": "lightgbm", "imbalance": "class_weight",
                    "params": {"n_estimators": 30, "num_leaves": 8, "learning_rate": 0.1},
                }],
            }
        )
    )  # fmt: skip
    retrain = RetrainConfig(data=data, config=fast)
    settings = sidecar_settings(tmp_path)
    write_traffic(settings.traffic_path, model, VERSION, rows=1000, seed=20, shift=BIG_SHIFT)
    config = sidecar_config(triggers={"auc_below": None}, retrain=retrain.model_dump())
    car = Sidecar(settings, config, trainer=flow_trainer(retrain), evidently=False)
    [result] = car.run_once()
    car.close()
    assert [t.trigger for t in result.triggers] == ["drift"]
    finished = TriggerLog(settings.trigger_log).read()[-1]
    assert finished["event"] == "retrain_finished", finished
    assert "drift (" in finished["reason"]
    assert registry.resolve_alias("challenger") == finished["bento_tag"]
    assert registry.resolve_alias("champion") != finished["bento_tag"]  # never promoted
