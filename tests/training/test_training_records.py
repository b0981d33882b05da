"""The model card: written at registration with the model, and by ``loanctl models card``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import bentoml
import pytest
from typer.testing import CliRunner

from loanctl.cli import app
from training import registry
from training.card import NOT_RECORDED, CardFacts, render_html, render_markdown
from training.card_facts import reason_rows

SECTIONS = ("Purpose and intended use", "Data", "Design and features", "Performance",
            "Fairness at the decision", "Reason codes", "Limitations", "Approvals",
            "Lineage")  # fmt: skip


def test_registration_stores_the_card_with_the_model(trained: Any) -> None:
    folder = Path(bentoml.models.get(trained.bento_tag).path) / "card"
    md = (folder / "model_card.md").read_text()
    html = (folder / "model_card.html").read_text()
    for title in SECTIONS:
        assert f"## {title}" in md and f"<h2>{title}</h2>" in html
    assert trained.bento_tag in md and "data:image/png;base64," in html
    assert (folder / "calibration.png").stat().st_size > 1000
    assert json.loads((folder / "validation_report.json").read_text())["rows_in"] == 3000
    assert f"{NOT_RECORDED}: no approval on this version." in md
    artifacts = {a.path for a in registry.client().list_artifacts(trained.mlflow_run_id, "card")}
    assert "card/model_card.html" in artifacts


def test_cli_card_shows_approvals_metrics_and_lineage(trained: Any, tmp_path: Path) -> None:
    approval = {"by": "Ada Risk", "role": "model-risk", "reason": "validated", "at": "2026-12-01"}
    client = registry.client()
    client.set_model_version_tag(registry.MODEL_NAME, trained.mlflow_version,
                                 "governance.approvals", json.dumps([approval]))  # fmt: skip
    try:
        result = CliRunner().invoke(app, ["models", "card", trained.mlflow_version,
                                          "--out", str(tmp_path)])  # fmt: skip
    finally:
        client.delete_model_version_tag(registry.MODEL_NAME, trained.mlflow_version,
                                        "governance.approvals")  # fmt: skip
    assert result.exit_code == 0, result.output
    md = next(tmp_path.glob("model_card-*.md")).read_text()
    assert "| Ada Risk | model-risk | validated | 2026-12-01 |" in md
    data_hash = str(bentoml.models.get(trained.bento_tag).info.metadata["data_hash"])
    assert trained.mlflow_run_id in md and data_hash in md
    assert "applications.parquet" in md  # the source file, from the MLflow run
    roc = next(line for line in md.splitlines() if line.startswith("| roc_auc |"))
    assert NOT_RECORDED not in roc  # CV mean, fold spread and hold-out all present
    # reasons per application field, the derived features folded into them
    reasons = next(line for line in md.splitlines() if line.startswith("| client_income |"))
    assert "debt_to_income" in reasons and "Income insufficient" in reasons


def test_unknown_version_is_one_line_and_exit_code(trained: Any, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["models", "card", "999", "--out", str(tmp_path)])
    assert result.exit_code != 0
    assert not list(tmp_path.iterdir())


def test_fields_of_later_releases_are_shown_when_present() -> None:
    facts = CardFacts(
        metadata={"name": "loan_default", "version": "v1", "feature_names": ["credit_amount"],
                  "decision_policy": {"approve_below": 0.08, "decline_from": 0.3},
                  "fairness": [{"attribute": "client_gender", "group": "F", "n": 500,
                                "approval_rate": 0.71, "adverse_impact_ratio": 0.93,
                                "tpr": 0.4, "fpr": 0.2, "predicted_default_rate": 0.09}]},
        reasons=[{"field": "credit_amount", "features": "credit_amount, credit_to_income",
                  "reason": "Amount of credit requested", "missing_reason": "No amount given"}],
    )  # fmt: skip
    md = render_markdown(facts)
    assert "| client_gender | F | 500 | 0.7100 | 0.9300 | 0.4000 | 0.2000 | 0.0900 |" in md
    assert '"approve_below": 0.08' in md
    row = "| credit_amount | credit_amount, credit_to_income | Amount of credit requested |"
    assert f"{row} No amount given |" in md
    bare = render_markdown(CardFacts(metadata={"version": "v2"}))
    assert f"{NOT_RECORDED}: this version's metadata holds no fairness table" in bare
    assert "<h2>Limitations</h2>" in render_html(facts)


def test_reason_rows_fold_features_into_fields_and_an_unreadable_table_is_empty(
    tmp_path: Path,
) -> None:
    rows = {r["field"]: r for r in reason_rows(["age_days", "age_years", "client_income"])}
    assert set(rows) == {"age_days", "client_income"}
    assert rows["age_days"]["features"] == "age_days, age_years"
    assert rows["client_income"]["reason"] and rows["client_income"]["missing_reason"]
    (tmp_path / "reasons.yaml").write_text("reasons: [not, a, table]\n")
    assert reason_rows(["age_days"], tmp_path / "reasons.yaml") == []
    assert reason_rows(["age_days"], tmp_path / "absent.yaml") == []


def test_lineage_traces_a_prediction_to_run_data_commit_and_approvals(
    trained: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import UTC, datetime

    from loan_default.traffic import TrafficWriter

    monkeypatch.setenv("LOAN_TRAFFIC_DIR", str(tmp_path / "traffic"))
    writer = TrafficWriter(tmp_path / "traffic", "predictions")
    writer.write([{"prediction_id": "p-lineage", "timestamp": datetime.now(UTC).isoformat(),
                   "model_name": "loan_default", "model_version": trained.run_id,
                   "endpoint": "predict", "application": {"application_id": "A-1"},
                   "default_probability": 0.3, "risk_category": "MEDIUM",
                   "decision": "refer"}])  # fmt: skip
    writer.close()
    approval = {"by": "Ada Risk", "role": "model-risk", "reason": "validated", "at": "2026-12-01"}
    client = registry.client()
    client.set_model_version_tag(registry.MODEL_NAME, trained.mlflow_version,
                                 "governance.approvals", json.dumps([approval]))  # fmt: skip
    try:
        result = CliRunner().invoke(app, ["lineage", "p-lineage", "--json"])
    finally:
        client.delete_model_version_tag(registry.MODEL_NAME, trained.mlflow_version,
                                        "governance.approvals")  # fmt: skip
    assert result.exit_code == 0, result.output
    found = json.loads(result.output)
    meta = bentoml.models.get(trained.bento_tag).info.metadata
    assert found["model version"] == trained.bento_tag
    assert found["MLflow run"] == trained.mlflow_run_id
    assert found["MLflow model version"] == trained.mlflow_version
    assert found["data hash"] == meta["data_hash"]
    assert found["data file"].endswith("applications.parquet")
    assert found["code commit"] == meta.get("git_commit", "not recorded")
    assert found["feature schema fingerprint"] == meta["schema_fingerprint"]
    assert found["decision"] == "refer"
    # the version's approvals as recorded (an earlier test of the session may have approved
    # the shared model through `loanctl models approve`, which writes the same tag)
    assert found["approvals"] and all({"by", "role", "reason", "at"} <= set(a)
                                      for a in found["approvals"])  # fmt: skip
