"""prepare_dataset: import + validate + hash, with every input row accounted for."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from loan_default.data.io import read_table, write_table
from loan_default.data.prepare import prepare_dataset
from loan_default.data.sources import import_table
from loan_default.data.validation import ValidationConfig
from loan_default.data.versioning import data_hash
from loan_default.errors import DataValidationError

TESTDATA = Path(__file__).resolve().parents[2] / "testdata"
QUIRKS = TESTDATA / "loan_default_quirks.csv"
LENIENT = ValidationConfig(max_failure_share=0.5)


def test_source_file_is_imported_validated_and_hashed(tmp_path: Path) -> None:
    quarantine = tmp_path / "q.parquet"
    prepared = prepare_dataset(
        QUIRKS, source="loan_default", validation=LENIENT, quarantine_path=quarantine
    )
    assert (prepared.rows_in, len(prepared.frame), prepared.rows_quarantined) == (8, 5, 3)
    assert prepared.source == "loan_default" and prepared.path == QUIRKS
    assert prepared.frame.index.tolist() == list(range(5))
    assert "default" in prepared.frame.columns
    assert prepared.data_hash == data_hash(prepared.frame)
    assert prepared.report.rows_in == 8 and prepared.report.by_rule["import"] == 2
    assert prepared.unparseable == {"population_region_relative": 1, "score_source_3": 1}
    rejected = read_table(quarantine)
    assert prepared.quarantine_path == quarantine
    assert rejected["source_row"].tolist() == [5, 6, 7]
    assert rejected["stage"].tolist() == ["import", "import", "validation"]
    assert "loan_annuity" in rejected["reasons"].iloc[2]
    assert rejected["ID"].tolist() == ["12150000", "12160000", "12170000"]  # as in the source


def test_canonical_file_needs_no_source_and_hash_matches_the_imported_one(
    tmp_path: Path,
) -> None:
    prepared = prepare_dataset(QUIRKS, source="loan_default", validation=LENIENT,
                               quarantine_path=tmp_path / "q.parquet")  # fmt: skip
    canonical = write_table(prepared.frame, tmp_path / "canonical.parquet")
    again = prepare_dataset(canonical, validation=LENIENT)
    assert again.source == "canonical"
    assert again.rows_quarantined == 0 and again.quarantine_path is None
    assert again.data_hash == prepared.data_hash
    as_csv = write_table(prepared.frame.sample(frac=1.0, random_state=0), tmp_path / "c.csv")
    assert prepare_dataset(as_csv, validation=LENIENT).data_hash == prepared.data_hash


def test_too_many_failures_stop_after_writing_the_quarantine(tmp_path: Path) -> None:
    quarantine = tmp_path / "q.csv"
    strict = ValidationConfig(max_failure_share=0.1)
    with pytest.raises(DataValidationError, match=r"3 of 8 rows \(37.5%\).*import 2"):
        prepare_dataset(QUIRKS, source="loan_default", validation=strict,
                        quarantine_path=quarantine)  # fmt: skip
    assert len(pd.read_csv(quarantine)) == 3


def test_default_quarantine_location_and_validation_config_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOAN_QUARANTINE_DIR", str(tmp_path / "rejects"))
    config = tmp_path / "v.yaml"
    config.write_text("max_failure_share: 0.5\n")
    prepared = prepare_dataset(QUIRKS, source="loan_default", validation=config)
    assert (
        prepared.quarantine_path == tmp_path / "rejects" / "loan_default_quirks.quarantine.parquet"
    )
    assert prepared.quarantine_path.is_file()


@pytest.mark.realdata
def test_home_credit_sample_imports_into_plausible_canonical_data(shared_data: Path) -> None:
    path = shared_data / "home_credit_application_train_sample5000.tsv.gz"
    imported = import_table(path, "home_credit")
    assert len(imported.data) + len(imported.quarantine) == imported.rows_in == 5000
    data = imported.data
    assert data["application_id"].is_unique
    assert data["default"].mean() == pytest.approx(0.0772, abs=1e-4)  # 386 / 5000 (README)
    age_years = data["age_days"] / 365.25
    assert age_years.between(18, 100).all()
    assert data["employed_days"].isna().mean() == pytest.approx(0.181, abs=0.005)  # 365243
    assert (data["employed_days"].dropna() >= 0).all()
    assert data["type_organization"].isna().sum() == 904  # XNA
    assert data["client_income"].median() == pytest.approx(4800.0)  # 144,000 / 30
    assert data["application_process_day"].between(0, 6).all()
    assert set(data["client_gender"].dropna()) == {"male", "female"}
    assert data["social_circle_default"].dropna().between(0, 1).all()
    for name in ("client_education", "client_income_type", "loan_contract_type"):
        assert data[name].notna().all(), name  # every category value was mapped
    prepared = prepare_dataset(path, source="home_credit")
    assert prepared.report.passed
    assert prepared.rows_in == len(prepared.frame) + prepared.rows_quarantined
    assert prepared.data_hash == prepare_dataset(path, source="home_credit").data_hash
