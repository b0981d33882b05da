"""``loanctl data import|validate|hash``: counts on stdout, one ``error:`` line and exit 2."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import pytest

from loan_default.data.io import read_table
from loanctl.cli import run

TESTDATA = Path(__file__).resolve().parents[2] / "testdata"
QUIRKS = TESTDATA / "loan_default_quirks.csv"


def loanctl(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str, str]:
    """Run the real entry point; (exit code, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["loanctl", *args])
    with pytest.raises(SystemExit) as info:
        run()
    captured = capsys.readouterr()
    return int(info.value.code or 0), captured.out, captured.err


def test_import_writes_canonical_parquet_quarantine_and_counts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "loans.parquet"
    code, stdout, _ = loanctl(
        monkeypatch,
        capsys,
        "data",
        "import",
        "--source",
        "loan_default",
        "--data",
        str(QUIRKS),
        "--out",
        str(
            out,
        ),
    )
    assert code == 0
    assert "rows in 8, out 6, quarantined 2" in stdout
    assert "score_source_3 (column Score_Source_3): 1 unparseable value(s) became missing" in stdout
    assert len(read_table(out)) == 6
    quarantine = read_table(tmp_path / "loans.quarantine.parquet")
    assert quarantine["source_row"].tolist() == [5, 6] and "reasons" in quarantine.columns
    code, stdout, _ = loanctl(monkeypatch, capsys, "data", "validate", "--data", str(out))
    assert code == 0 and stdout.startswith("validation PASSED: 6 rows, 5 valid")


@pytest.mark.realdata
def test_home_credit_sample_imports_to_valid_canonical_parquet(
    shared_data: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sample = shared_data / "home_credit_application_train_sample5000.tsv.gz"
    out = tmp_path / "hc.parquet"
    code, stdout, _ = loanctl(
        monkeypatch,
        capsys,
        "data",
        "import",
        "--source",
        "home_credit",
        "--data",
        str(sample),
        "--out",
        str(
            out,
        ),
    )
    assert code == 0 and "rows in 5000, out 5000, quarantined 0" in stdout
    report = tmp_path / "r.json"
    code, _, _ = loanctl(
        monkeypatch,
        capsys,
        "data",
        "validate",
        "--data",
        str(out),
        "--report",
        str(report),
    )
    body = json.loads(report.read_text())
    assert code == 0 and body["passed"] and body["rows_valid"] == 5000
    assert pd.read_parquet(out).shape == (5000, 42)  # every canonical column, label included


def test_source_may_be_a_yaml_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    mapping = tmp_path / "mine.yaml"
    mapping.write_text(
        "fields:\n  client_income: Client_Income\n  credit_amount: Credit_Amount\n"
        "  age_days: Age_Days\n  default: Default\n"
    )
    out = tmp_path / "o.csv"
    code, stdout, _ = loanctl(
        monkeypatch,
        capsys,
        "data",
        "import",
        "--source",
        str(mapping),
        "--data",
        str(QUIRKS),
        "--out",
        str(
            out,
        ),
    )
    assert code == 0 and "source mine: rows in 8, out 5, quarantined 3" in stdout  # "33,750" too
    assert (tmp_path / "o.quarantine.csv").is_file()


def test_validate_prints_summary_writes_report_and_fails_above_the_maximum(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "report.json"
    quarantine = tmp_path / "q.parquet"
    args = [
        "data",
        "validate",
        "--data",
        str(QUIRKS),
        "--source",
        "loan_default",
        "--report",
        str(report),
    ]
    code, stdout, stderr = loanctl(monkeypatch, capsys, *args, "--quarantine", str(quarantine))
    assert code == 2  # 3 of 8 rows fail; the shipped maximum is 20 %
    assert stdout.startswith("validation FAILED: 8 rows, 5 valid, 3 quarantined")
    assert stderr.startswith("error: validation failed: 3 of 8 rows (37.5%)")
    assert stderr.count("\n") == 1
    body = json.loads(report.read_text())
    assert body["passed"] is False and body["failures_by_rule"]["import"] == 2
    assert body["source"] == "loan_default" and body["file"] == str(QUIRKS)
    assert len(read_table(quarantine)) == 3
    config = tmp_path / "v.yaml"
    config.write_text("max_failure_share: 0.5\n")
    code, stdout, _ = loanctl(monkeypatch, capsys, *args, "--config", str(config))
    assert code == 0 and stdout.startswith("validation PASSED")


def test_hash_is_the_same_for_the_source_and_its_canonical_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    canonical = tmp_path / "c.parquet"
    loanctl(monkeypatch, capsys, "data", "import", "--source", "loan_default", "--data",
            str(QUIRKS), "--out", str(canonical))  # fmt: skip
    code, from_canonical, _ = loanctl(monkeypatch, capsys, "data", "hash", "--data", str(canonical))
    assert code == 0 and len(from_canonical.strip()) == 64
    shuffled = tmp_path / "shuffled.csv"
    pd.read_parquet(canonical).sample(frac=1.0, random_state=1).to_csv(shuffled, index=False)
    code, from_shuffled, _ = loanctl(monkeypatch, capsys, "data", "hash", "--data", str(shuffled))
    assert from_shuffled == from_canonical


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        (b"", "the file is empty"),
        (b"ID,Default\n", "no data rows"),
        (b"ID,Default\n1,0\n", "missing column(s) 'Accompany_Client'"),
        (b"\x00\x01binary", "binary content"),
    ],
)
def test_bad_input_files_give_one_error_line_and_exit_2(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    content: bytes | None,
    message: str,
) -> None:
    path = tmp_path / "in.csv"
    if content is not None:
        path.write_bytes(content)
    code, _, stderr = loanctl(
        monkeypatch, capsys, "data", "import", "--source", "loan_default", "--data", str(path),
        "--out", str(tmp_path / "o.parquet"),
    )  # fmt: skip
    assert code == 2
    assert stderr.startswith("error: ") and message in stderr and stderr.count("\n") == 1


def test_wrong_types_in_a_canonical_file_are_quarantined_with_reasons(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "c.csv"
    path.write_text("client_income,credit_amount,age_days\nlots,5000,12000\n1000,5000,12000\n")
    quarantine = tmp_path / "q.parquet"
    code, _, stderr = loanctl(
        monkeypatch,
        capsys,
        "data",
        "validate",
        "--data",
        str(path),
        "--quarantine",
        str(
            quarantine,
        ),
    )
    assert code == 2 and "1 of 2 rows (50.0%)" in stderr
    reasons = read_table(quarantine)["reasons"].tolist()
    assert reasons == ["client_income: cannot read 'lots' from client_income as a number"]


def test_a_file_of_wrong_types_fails_the_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "c.csv"
    path.write_text("client_income,credit_amount,age_days,score_source_1\n"
                    "high,5000,12000,good\nlow,5000,12000,bad\n")  # fmt: skip
    out = tmp_path / "o.parquet"
    code, stdout, stderr = loanctl(
        monkeypatch,
        capsys,
        "data",
        "import",
        "--source",
        "canonical",
        "--data",
        str(path),
        "--out",
        str(
            out,
        ),
    )
    assert code == 2 and "rows in 2, out 0, quarantined 2" in stdout
    assert stderr.startswith(f"error: {path}: none of its 2 rows could be mapped")
    assert "client_income: cannot read 'high'" in stderr and stderr.count("\n") == 1
    assert not out.exists() and (tmp_path / "o.quarantine.parquet").is_file()
    assert (
        "score_source_1 (column score_source_1): 2 unparseable value(s) became missing (all of them"
        in stdout
    )


def test_unknown_source_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, stderr = loanctl(
        monkeypatch,
        capsys,
        "data",
        "import",
        "--source",
        "nope",
        "--data",
        str(QUIRKS),
        "--out",
        str(
            tmp_path / "o.parquet",
        ),
    )
    assert code == 2 and stderr.startswith("error: unknown source 'nope'")


def test_output_format_comes_from_the_extension(monkeypatch, capsys, tmp_path):
    """An unknown ending is refused before any work; .tsv writes tab-separated text."""
    out = tmp_path / "o.xlsx"
    code, _, stderr = loanctl(
        monkeypatch, capsys, "data", "import", "--source", "loan_default", "--data",
        str(QUIRKS), "--out", str(out),
    )  # fmt: skip
    assert code == 2 and "o.xlsx: unknown output format" in stderr and not out.exists()
    tsv = tmp_path / "o.tsv"
    code, _, _ = loanctl(
        monkeypatch, capsys, "data", "import", "--source", "loan_default", "--data",
        str(QUIRKS), "--out", str(tsv),
    )  # fmt: skip
    assert code == 0 and "\t" in tsv.read_text().splitlines()[0]
    assert len(read_table(tsv)) == 6
