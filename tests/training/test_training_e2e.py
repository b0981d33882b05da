"""End to end: train, register in both stores, load back, predict offline, promote, roll back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest

from loan_default.errors import NotFoundError
from loan_default.reference import ReferenceProfile
from loan_default.schema import coerce_frame
from loan_default.store import load_model
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
    assert meta.params["fitted_on"] == "all_rows" and meta.params["fitted_rows"] == 3000
    reference = ReferenceProfile.load(loaded.path)
    assert reference.stats.rows == 3000


def test_run_folder_has_table_and_plots(trained: Any) -> None:
    names = {p.name for p in trained.run_dir.iterdir()}
    assert {"comparison.md", "comparison.csv", "roc.png", "calibration.png",
            "feature_importance.png", "confusion_matrix.png",
            "validation_report.json"} <= names  # fmt: skip
    table = pd.read_csv(trained.run_dir / "comparison.csv")
    assert len(table) == 7 and table["champion"].sum() == 1
    assert table["holdout_roc_auc"].between(0.5, 1).all()  # every candidate, blend included
    assert (trained.run_dir / "candidates" / "scorecard" / "scorecard.csv").is_file()
    assert "was fitted on 3,000 labelled rows" in (trained.run_dir / "comparison.md").read_text()
    assert "Champion rule" in (trained.run_dir / "comparison.md").read_text()
    for name in table["candidate"]:
        assert (trained.run_dir / "candidates" / name / "evaluation.png").is_file()


def test_mlflow_has_nested_candidate_runs(trained: Any) -> None:
    runs = mlflow.search_runs(
        search_all_experiments=True,
        filter_string=f"tags.mlflow.parentRunId = '{trained.mlflow_run_id}'",
    )
    assert len(runs) == 7
    assert (runs["metrics.roc_auc_mean"] > 0.5).all()
    parent = mlflow.get_run(trained.mlflow_run_id)
    assert parent.data.tags["data_hash"] == load_model(trained.bento_tag).metadata.data_hash
    assert "version.lightgbm" in parent.data.tags and "machine.host" in parent.data.tags


def test_mlflow_records_the_data_the_version_and_true_durations(
    trained: Any, applications_file: Path
) -> None:
    """The training data is a logged dataset; the version says what it is; runs last as long
    as the work they record."""
    parent = mlflow.get_run(trained.mlflow_run_id)
    data_hash = load_model(trained.bento_tag).metadata.data_hash
    assert parent.inputs is not None
    [given] = parent.inputs.dataset_inputs
    assert given.dataset.name == applications_file.name
    assert given.dataset.digest == data_hash[:36]
    assert str(applications_file.resolve()) in given.dataset.source
    tags = {t.key: t.value for t in given.tags}
    assert tags["data_hash"] == data_hash and tags["mlflow.data.context"] == "training"

    total = sum(trained.timings.values())
    duration = (parent.info.end_time - parent.info.start_time) / 1000
    assert duration >= 0.9 * total  # from reading the data to registration, not the publishing
    children = mlflow.search_runs(
        search_all_experiments=True,
        filter_string=f"tags.mlflow.parentRunId = '{trained.mlflow_run_id}'",
    )
    seconds = dict(zip(trained.table["candidate"], trained.table["seconds"], strict=True))
    for _, run in children.iterrows():
        lasted = (run["end_time"] - run["start_time"]).total_seconds()
        assert lasted >= seconds[run["tags.mlflow.runName"]] - 0.01

    version = registry.client().get_model_version(registry.MODEL_NAME, trained.mlflow_version)
    description = version.description or ""
    assert "roc_auc_mean" in description and data_hash[:12] in description
    auc = float(version.tags["metric.roc_auc_mean"])
    assert auc == pytest.approx(trained.metrics.cv["roc_auc"].mean, rel=1e-5)


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


def test_set_champion_moves_the_alias_and_refuses_unknown_versions(
    registry_restored: Any,
) -> None:
    """The bare alias move under the governed promotion (tests/training/test_governance.py)."""
    trained = registry_restored
    assert registry.set_champion(trained.bento_tag) == trained.bento_tag
    assert registry.resolve_alias("champion") == trained.bento_tag
    with pytest.raises(NotFoundError, match="999"):
        registry.set_champion("999")
