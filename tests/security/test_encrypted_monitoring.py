"""With a data key, the sidecar reads encrypted traffic and reports exactly what it reports
without one, and leaves no applicant field in clear in its own files."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from loan_default.data.generate import generate_applications
from loan_default.security.records import RecordCipher, add_data_key
from monitoring.report import load_reports
from monitoring.sidecar import Sidecar
from tests.monitoring.sidecar_world import (
    register_model,
    sidecar_config,
    sidecar_settings,
    write_traffic,
)

VERSION = "vsec-sidecar"
START = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
MOMENTS = ("generated_at", "created_at", "analysed_at", "path", "report_dir")


def _run(home: Path, model: Any, cipher: RecordCipher | None) -> list[dict[str, Any]]:
    settings = sidecar_settings(home)
    write_traffic(settings.traffic_path, model, VERSION, rows=600, seed=5, start=START,
                  cipher=cipher)  # fmt: skip
    car = Sidecar(settings, sidecar_config(), trainer=None, evidently=False)
    car.run_once()
    car.close()
    return [r.model_dump(mode="json") for r in load_reports(settings.reports_path)]


def _strip(report: Any) -> Any:
    """Everything but the moments the runs happened at and where they wrote."""
    if isinstance(report, dict):
        return {k: _strip(v) for k, v in report.items() if k not in MOMENTS}
    if isinstance(report, list):
        return [_strip(v) for v in report]
    return report


def test_sidecar_report_is_the_same_with_encryption(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = register_model(VERSION)
    plain = _run(tmp_path / "plain", model, None)
    ring = tmp_path / "keys.json"
    add_data_key(ring)
    monkeypatch.setenv("LOAN_DATA_KEY_FILE", str(ring))
    home = tmp_path / "sealed"
    sealed = _run(home, model, RecordCipher.load(ring))
    assert plain and _strip(sealed) == _strip(plain)
    frame = generate_applications(600, seed=5)
    ids = [str(i).encode() for i in frame["application_id"]]
    incomes = [repr(float(v)).encode() for v in frame["client_income"].dropna()[:50]]
    plain_files = [p.read_bytes() for p in (tmp_path / "plain").rglob("*") if p.is_file()]
    assert any(ids[0] in data for data in plain_files)  # the check does see clear text
    for path in (p for p in home.rglob("*") if p.is_file()):
        data = path.read_bytes()
        assert not [i for i in ids if i in data], f"an application id in clear in {path}"
        assert not [v for v in incomes if v in data], f"an income in clear in {path}"
