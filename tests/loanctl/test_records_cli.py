"""``loanctl lineage``, ``privacy export|erase|retention`` and ``report compliance``, run
through the real entry point on a home of their own."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from loan_default.security.audit_verify import entries
from loan_default.security.settings import SecuritySettings
from loan_default.traffic import TrafficWriter
from loanctl.cli import run
from tests.monitoring.sidecar_world import register_model

VERSION = "vrecords-cli"


def loanctl(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
            *args: str) -> tuple[int, str, str]:  # fmt: skip
    monkeypatch.setattr(sys, "argv", ["loanctl", *args])
    with pytest.raises(SystemExit) as info:
        run()
    captured = capsys.readouterr()
    return int(info.value.code or 0), captured.out, captured.err


@pytest.fixture(scope="module")
def registered() -> str:
    register_model(VERSION, rows=1500)
    return f"loan_default:{VERSION}"


def line(n: int, applicant: str, gender: str, decision: str | None) -> dict[str, Any]:
    record: dict[str, Any] = {
        "prediction_id": f"pred-{n:04d}", "timestamp": datetime.now(UTC).isoformat(),
        "model_name": "loan_default", "model_version": VERSION, "endpoint": "predict",
        "application": {"application_id": applicant, "client_gender": gender},
        "default_probability": 0.2, "risk_category": "LOW",
    }  # fmt: skip
    if decision is not None:
        record["decision"] = decision
    return record


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, registered: str) -> Path:
    """300 decisions (women approved at 0.5, men at 0.8), 20 lines without a decision,
    outcomes for the first 50."""
    monkeypatch.setenv("LOAN_HOME", str(tmp_path))
    for name in ("LOAN_TOKEN", "LOAN_DATA_KEY_FILE", "LOAN_TRAFFIC_DIR", "LOAN_MONITOR_DIR",
                 "LOAN_AUDIT_DIR", "LOAN_AUDIT_CHECKPOINT_DIR"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    records = []
    for n in range(300):
        gender = "F" if n % 2 else "M"
        approve = (n // 2) % 10 < (5 if gender == "F" else 8)
        records.append(line(n, f"app-{n}", gender, "approve" if approve else "decline"))
    records += [line(300 + n, f"app-{300 + n}", "F", None) for n in range(20)]
    records.append(line(400, "app-7", "M", "approve"))  # app-7 applied twice
    writer = TrafficWriter(tmp_path / "traffic", "predictions")
    writer.write(records)
    writer.close()
    feedback = TrafficWriter(tmp_path / "traffic", "feedback")
    feedback.write([{"prediction_id": f"pred-{n:04d}", "observed_default": n % 2,
                     "timestamp": datetime.now(UTC).isoformat()} for n in range(50)])  # fmt: skip
    feedback.close()
    return tmp_path


def test_lineage_shows_model_data_and_decision(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = loanctl(monkeypatch, capsys, "lineage", "pred-0007")
    assert code == 0
    assert f"model version               loan_default:{VERSION}" in out
    assert "decision                    approve" in out
    assert "feature schema fingerprint" in out and "observed outcome            1" in out
    assert "MLflow run                  not recorded" in out  # registered without MLflow
    code, out, err = loanctl(monkeypatch, capsys, "lineage", "no-such-id")
    assert code != 0 and out == ""
    assert err.strip().count("\n") == 0 and err.startswith("error: no prediction 'no-such-id'")


def test_export_erase_round_trip_keeps_others_and_the_audit_verifiable(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out_file = home / "export.json"
    code, out, _ = loanctl(monkeypatch, capsys, "privacy", "export", "--applicant", "app-7",
                           "--out", str(out_file))  # fmt: skip
    assert code == 0 and "2 prediction(s), 1 outcome(s)" in out
    exported = json.loads(out_file.read_text())
    assert {p["prediction_id"] for p in exported["predictions"]} == {"pred-0007", "pred-0400"}
    code, out, _ = loanctl(monkeypatch, capsys, "privacy", "erase", "--applicant", "app-7")
    assert code == 0 and "erased 2 prediction(s), 1 outcome(s)" in out
    code, out, _ = loanctl(monkeypatch, capsys, "privacy", "export", "--applicant", "app-7",
                           "--out", str(out_file))  # fmt: skip
    assert code == 0 and out.startswith("0 record(s)")
    code, out, _ = loanctl(monkeypatch, capsys, "privacy", "export", "--applicant", "app-8",
                           "--out", str(out_file))  # fmt: skip
    assert "1 prediction(s), 1 outcome(s)" in out
    code, out, _ = loanctl(monkeypatch, capsys, "audit", "verify")
    assert code == 0 and out.startswith("audit trail intact")
    audit = SecuritySettings().audit_path
    erased = [e for e in entries(audit) if e["event"] == "privacy.erased"]
    assert len(erased) == 1 and erased[0]["applicant"].startswith("p-")
    assert all(b'"app-7"' not in p.read_bytes() for p in audit.glob("*.jsonl"))


def test_compliance_report_measures_at_the_logged_decision(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    today = datetime.now(UTC).date()
    loanctl(monkeypatch, capsys, "privacy", "export", "--applicant", "app-1")  # an audit entry
    code, out, err = loanctl(monkeypatch, capsys, "report", "compliance", "--from",
                             str(today - timedelta(days=1)), "--to", str(today))  # fmt: skip
    assert code == 0, err
    md = Path(out.splitlines()[0].removeprefix("compliance report: ")).read_text()
    assert "| client_gender | F | 150 | 0.500 | 0.624 | FLAG |" in md
    assert "| client_gender | M | 151 | 0.801 | 1.000 | ok |" in md
    assert "| privacy.exported | os:" in md
    assert "20 of 321 lines carry no `decision` field" in md
    assert "| not recorded | 20 (6.2%) |" in md
    assert "INTACT: 1 entries in 1 stream(s), 1 signed checkpoint(s): no problem found" in md
    assert Path(out.splitlines()[1].removeprefix("compliance report: ")).is_file()
    code, _, err = loanctl(monkeypatch, capsys, "report", "compliance", "--from", "2026-13-01",
                           "--to", "2026-12-01")  # fmt: skip
    assert code == 2 and "--from: '2026-13-01' is not a date" in err


def test_retention_dry_run_lists_without_deleting(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    old = home / "traffic" / "feedback" / "2020-01-01"
    old.mkdir(parents=True)
    (old / "h-1.jsonl").write_text("")
    code, out, _ = loanctl(monkeypatch, capsys, "privacy", "retention")
    assert code == 0 and "would delete feedback 2020-01-01" in out and old.exists()
    code, out, _ = loanctl(monkeypatch, capsys, "privacy", "retention", "--apply")
    assert code == 0 and "deleted feedback 2020-01-01" in out and not old.exists()
