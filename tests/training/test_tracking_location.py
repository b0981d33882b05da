"""MLflow artifacts stay beside the local store, never in the current directory."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest

from loan_default.settings import LoanSettings
from training.tracking import configure


def test_sqlite_store_keeps_artifacts_beside_the_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # MLflow's default would be ./mlruns here
    store = tmp_path / "store"
    settings = LoanSettings(mlflow_tracking_uri=f"sqlite:///{store / 'mlflow.db'}")
    previous = mlflow.get_tracking_uri()
    try:
        configure("location-test", settings)
        experiment = mlflow.get_experiment_by_name("location-test")
        assert experiment is not None
        assert experiment.artifact_location == (store / "artifacts").resolve().as_uri()
        with mlflow.start_run():
            mlflow.log_text("hello", "note.txt")
        assert not (tmp_path / "mlruns").exists()
        assert list((store / "artifacts").rglob("note.txt"))
    finally:
        mlflow.set_tracking_uri(previous)
