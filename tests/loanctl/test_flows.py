"""The daily pipeline as a Prefect flow, run locally: the sidecar's trigger starts it, it
ingests, validates and trains, and Prefect records the run under the platform's home."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from loan_default.settings import LoanSettings
from monitoring.responses import TriggerLog
from monitoring.settings import RetrainConfig
from monitoring.sidecar import Sidecar
from tests.loanctl.world import fast_config, small_data
from tests.monitoring.sidecar_world import (
    BIG_SHIFT,
    register_model,
    sidecar_config,
    sidecar_settings,
    write_traffic,
)

pytestmark = pytest.mark.slow
VERSION = "vflow-sidecar"


def flow_runs(prefect_home: Path) -> list[tuple[str, str, str]]:
    """(flow name, run state, reason parameter) of every run in Prefect's local database."""
    db = sqlite3.connect(prefect_home / "prefect.db")
    try:
        return db.execute(
            "SELECT flow.name, flow_run.state_type, json_extract(flow_run.parameters, '$.reason') "
            "FROM flow_run JOIN flow ON flow.id = flow_run.flow_id"
        ).fetchall()
    finally:
        db.close()


def test_a_drift_trigger_runs_the_daily_flow_which_registers_a_challenger(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from loanctl.flows import FLOW_NAME, flow_trainer
    from training import registry

    monkeypatch.delenv("PREFECT_API_URL", raising=False)  # no server: the local mode
    monkeypatch.delenv("PREFECT_HOME", raising=False)
    model = register_model(VERSION)
    retrain = RetrainConfig(data=small_data(tmp_path), config=fast_config(tmp_path))
    settings = sidecar_settings(tmp_path)
    write_traffic(settings.traffic_path, model, VERSION, rows=1000, seed=20, shift=BIG_SHIFT)
    config = sidecar_config(triggers={"auc_below": None}, retrain=retrain.model_dump())
    car = Sidecar(settings, config, trainer=flow_trainer(retrain), evidently=False)
    [result] = car.run_once()
    car.close()

    assert [t.trigger for t in result.triggers] == ["drift"]
    finished = TriggerLog(settings.trigger_log).read()[-1]
    assert finished["event"] == "retrain_finished", finished
    assert registry.resolve_alias("challenger") == finished["bento_tag"]
    # The trigger registers a challenger and never promotes it (governance: docs/governance.md).
    assert registry.resolve_alias("champion") != finished["bento_tag"]
    new = registry.find_version(finished["bento_tag"], registry.client())
    assert new.tags.get("governance.status") == "challenger"
    assert not new.tags.get("governance.approvals")
    home = LoanSettings().home.resolve()
    assert list((home / "data" / "ingested").glob("*-applications.parquet"))
    runs = flow_runs(home / "prefect")  # Prefect's state lives under the platform's home
    assert (FLOW_NAME, "COMPLETED", finished["reason"]) in runs
