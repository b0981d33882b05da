"""Fast checks of the wiring's settings: where state is found, when a server is required."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from loan_default.errors import ConfigError
from loanctl.cli import app
from loanctl.locations import StateLocations, StateSettings
from loanctl.mlflow_db import libpq_uri


def test_locations_follow_the_sqlite_store_and_the_homes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BENTOML_HOME", str(tmp_path / "bento"))
    db = f"sqlite:///{tmp_path / 'm' / 'mlflow.db'}"
    where = StateLocations.from_settings(StateSettings(home=tmp_path, mlflow_db_uri=db))
    assert where.mlflow_artifacts == tmp_path / "m" / "artifacts"
    assert where.bento_models == tmp_path / "bento" / "models"
    assert where.audit == tmp_path / "audit" and where.traffic == tmp_path / "traffic"


def test_a_tracking_server_needs_its_database_and_artifact_root_named() -> None:
    with pytest.raises(ConfigError, match="LOAN_MLFLOW_DB_URI"):
        StateLocations.from_settings(StateSettings(mlflow_tracking_uri="http://127.0.0.1:5000"))
    with pytest.raises(ConfigError, match="LOAN_MLFLOW_ARTIFACTS_DIR"):
        StateLocations.from_settings(StateSettings(mlflow_db_uri="postgresql://u@h:5433/mlflow"))


def test_libpq_gets_the_uri_without_the_driver() -> None:
    assert (
        libpq_uri("postgresql+psycopg2://u@127.0.0.1:5433/m") == "postgresql://u@127.0.0.1:5433/m"
    )


def test_local_orchestration_uses_a_configured_server_and_starts_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect.settings import PREFECT_API_URL, PREFECT_HOME

    from loanctl.flows import local_orchestration

    monkeypatch.delenv("PREFECT_HOME", raising=False)
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:4200/api")
    home = tmp_path / "not-yet"  # Prefect itself would fail to create it (no parents)
    with local_orchestration(home) as url:
        assert url == "http://127.0.0.1:4200/api"
        assert PREFECT_HOME.value() == home.resolve() / "prefect"
        assert PREFECT_HOME.value().is_dir()
    assert PREFECT_API_URL.value() in (None, "", "http://127.0.0.1:4200/api")


def test_pipeline_serve_without_a_prefect_server_says_what_to_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    result = CliRunner().invoke(app, ["pipeline", "serve", "--data", str(tmp_path / "x.csv")])
    assert isinstance(result.exception, ConfigError)
    assert "prefect server start" in str(result.exception)


def test_backup_restore_of_a_folder_without_backups_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["backup", "restore", str(tmp_path)])
    assert "no backup here" in str(result.exception)
