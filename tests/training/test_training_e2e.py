"""End to end: train, register in both stores, load back, predict offline, promote, roll back."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.exceptions import MlflowException
from typer.testing import CliRunner

from loan_default.errors import NotFoundError
from loan_default.reference import ReferenceProfile
from loan_default.schema import coerce_frame
from loan_default.store import load_model
from loanctl.cli import app
from training import registry
from training.predict import predict_file


def test_bento_and_mlflow_models_give_identical_probabilities(
    trained: Any, applications: pd.DataFrame
) -> None:
    loaded = load_model(trained.bento_tag)
    pyfunc = mlflow.pyfunc.load_model(f"models:/{registry.MODEL_NAME}/{trained.mlflow_version}")
    rows = applications.drop(columns=["default"]).head(300)
    from_bento = loaded.model.predict_proba(coerce_frame(rows))
    from_mlflow = np.asarray(pyfunc.predict(rows))
    np.testing.assert_array_equal(from_bento, from_mlflow)
    assert ((from_bento >= 0) & (from_bento <= 1)).all()


def test_metadata_and_reference_are_complete(trained: Any) -> None:
    loaded = load_model(trained.bento_tag)
    meta = loaded.metadata
    assert meta.mlflow_model_version == trained.mlflow_version
    assert meta.mlflow_run_id == trained.mlflow_run_id
    assert meta.data_rows == 3000 and len(meta.data_hash) == 64 and meta.data_source
    assert 0 < meta.thresholds.decision < 1 and meta.seed == 7
    assert meta.training_metrics.cv["roc_auc"].mean > 0.65
    assert "roc_auc" in meta.training_metrics.holdout
    assert meta.training_metrics.folds == trained.metrics.folds
    assert meta.params["calibration"] in ("isotonic", "platt")
    reference = ReferenceProfile.load(loaded.path)
    assert reference.stats.rows == 3000


def test_run_folder_has_table_and_plots(trained: Any) -> None:
    names = {p.name for p in trained.run_dir.iterdir()}
    assert {"comparison.md", "comparison.csv", "roc.png", "calibration.png",
            "feature_importance.png", "confusion_matrix.png",
            "validation_report.json"} <= names  # fmt: skip
    table = pd.read_csv(trained.run_dir / "comparison.csv")
    assert len(table) == 5 and table["champion"].sum() == 1
    assert "Champion rule" in (trained.run_dir / "comparison.md").read_text()
    for name in table["candidate"]:
        assert (trained.run_dir / "candidates" / name / "evaluation.png").is_file()


def test_mlflow_has_nested_candidate_runs(trained: Any) -> None:
    runs = mlflow.search_runs(
        search_all_experiments=True,
        filter_string=f"tags.mlflow.parentRunId = '{trained.mlflow_run_id}'",
    )
    assert len(runs) == 5
    assert (runs["metrics.roc_auc_mean"] > 0.5).all()
    parent = mlflow.get_run(trained.mlflow_run_id)
    assert parent.data.tags["data_hash"] == load_model(trained.bento_tag).metadata.data_hash
    assert "version.lightgbm" in parent.data.tags and "machine.host" in parent.data.tags


def test_registration_makes_a_challenger_not_a_champion(trained: Any) -> None:
    assert registry.resolve_alias("challenger") == trained.bento_tag
    assert registry.resolve_alias("no-such-alias") is None
    rows = {r.bento_tag: r for r in registry.list_models()}
    assert rows[trained.bento_tag].mlflow_version == trained.mlflow_version
    assert "challenger" in rows[trained.bento_tag].aliases


def test_predict_file_keeps_order_and_id_and_quarantines(
    trained: Any, applications: pd.DataFrame, tmp_path: Path
) -> None:
    rows = applications.drop(columns=["default"]).head(50).copy()
    rows.loc[rows.index[3], "age_days"] = 5.0  # a 5-day-old applicant: invalid
    path = tmp_path / "batch.csv"
    rows.to_csv(path, index=False)
    out = tmp_path / "scores.csv"
    result = predict_file(path, out=out, model=trained.mlflow_version)
    scored = pd.read_csv(out)
    assert result.rows == 49 and result.quarantined == 1
    assert result.quarantine_path is not None and result.quarantine_path.is_file()
    expected_ids = [i for k, i in enumerate(rows["application_id"]) if k != 3]
    assert scored["application_id"].tolist() == expected_ids
    assert scored["risk_category"].isin(["LOW", "MEDIUM", "HIGH"]).all()
    model = load_model(trained.bento_tag).model
    kept = rows.drop(index=rows.index[3])
    np.testing.assert_allclose(
        scored["default_probability"], model.predict_proba(coerce_frame(kept)), rtol=1e-9
    )


@pytest.fixture
def registry_restored(trained: Any) -> Any:
    """Leave the session's registry as training left it (other areas' tests share it)."""
    yield trained
    client = registry.client()
    for alias in (registry.CHAMPION, registry.PREVIOUS):
        with contextlib.suppress(MlflowException):
            client.delete_registered_model_alias(registry.MODEL_NAME, alias)
    client.set_registered_model_alias(
        registry.MODEL_NAME, registry.CHALLENGER, trained.mlflow_version
    )


def test_promote_and_rollback_through_the_cli(registry_restored: Any) -> None:
    trained = registry_restored
    runner = CliRunner()
    first = runner.invoke(app, ["models", "promote", trained.mlflow_version])
    assert first.exit_code == 0, first.output
    assert registry.resolve_alias("champion") == trained.bento_tag
    # Register the same model again as a second version, promote it, then roll back.
    client = registry.client()
    source = str(client.get_model_version(registry.MODEL_NAME, trained.mlflow_version).source)
    second = registry.register(
        source, run_id=trained.mlflow_run_id, bento_tag="loan_default:vsecond",
        mlflow_client=client,
    )  # fmt: skip
    assert runner.invoke(app, ["models", "promote", second]).exit_code == 0
    assert registry.resolve_alias("champion") == "loan_default:vsecond"
    assert registry.resolve_alias("previous-champion") == trained.bento_tag
    back = runner.invoke(app, ["models", "rollback"])
    assert back.exit_code == 0 and trained.bento_tag in back.output
    assert registry.resolve_alias("champion") == trained.bento_tag
    listing = runner.invoke(app, ["models", "list"])
    assert listing.exit_code == 0 and trained.mlflow_version in listing.output
    # Promotion by Bento tag works too; an unknown version is a NotFoundError (exit 2).
    assert registry.promote(trained.bento_tag) == trained.bento_tag
    with pytest.raises(NotFoundError, match="999"):
        registry.promote("999")
