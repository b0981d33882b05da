"""One call from a file to a validated, versioned training set: import, validate, hash.

Training (``loanctl train --data FILE [--source NAME]``) calls :func:`prepare_dataset`; the
result carries the validated canonical frame, the validation report and the data version that
the run records. Rejected rows are written to a quarantine file (never dropped silently) in
the source's own layout, with the stage (``import`` or ``validation``) and the reasons.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from loan_default.data.io import DataSettings, write_table
from loan_default.data.mappings import canonical_mapping, load_mapping
from loan_default.data.sources import ImportResult, import_table
from loan_default.data.validation import ValidationConfig, ValidationReport, validate
from loan_default.data.versioning import data_hash


@dataclass(frozen=True, slots=True)
class PreparedDataset:
    """A validated canonical data set and where it came from."""

    frame: pd.DataFrame
    """Valid canonical rows (label kept when the source has it), index 0..n-1."""
    report: ValidationReport
    """Validation of every input row; import failures count under the rule ``import``."""
    data_hash: str
    """Content hash of ``frame`` (:func:`loan_default.data.versioning.data_hash`)."""
    source: str
    """Name of the source mapping (``canonical`` for files already in canonical form)."""
    path: Path
    rows_in: int
    rows_quarantined: int
    quarantine_path: Path | None = None
    """Where the rejected rows were written; ``None`` when there were none."""
    feature_views: dict[str, str] = field(default_factory=dict)
    """Feature store views joined into ``frame`` (base name -> ``name@fingerprint``)."""
    unparseable: dict[str, int] = field(default_factory=dict)
    """Canonical field -> values that could not be parsed and became missing."""


def default_quarantine_path(path: Path) -> Path:
    """``<quarantine dir>/<input stem>.quarantine.parquet`` (see ``DataSettings``)."""
    stem = path.name.split(".")[0] or "data"
    return DataSettings().quarantine_path / f"{stem}.quarantine.parquet"


def quarantine_frame(imported: ImportResult, rejected: pd.DataFrame) -> pd.DataFrame:
    """Import and validation rejects together, as source rows with stage and reasons."""
    parts = []
    if len(imported.quarantine):
        parts.append(imported.quarantine.assign(stage="import"))
    if len(rejected):
        rows = [int(index) for index in rejected.index]
        parts.append(
            imported.source_rows(rows, list(rejected["reasons"])).assign(stage="validation")
        )
    if not parts:
        return imported.quarantine.assign(stage=pd.Series(dtype=object))
    out = pd.concat(parts, ignore_index=True).sort_values("source_row", kind="stable")
    columns = ["source_row", "stage", "reasons"]
    return out[columns + [c for c in out.columns if c not in columns]].reset_index(drop=True)


def merged_report(imported: ImportResult, report: ValidationReport) -> ValidationReport:
    by_rule = Counter(report.by_rule)
    if len(imported.quarantine):
        by_rule["import"] += len(imported.quarantine)
    return ValidationReport(
        rows_in=imported.rows_in,
        rows_valid=report.rows_valid,
        max_failure_share=report.max_failure_share,
        by_rule=dict(by_rule),
        by_field=dict(report.by_field),
        findings=list(report.findings),
        stale_is_error=report.stale_is_error,
    )


def prepare_dataset(
    path: str | Path,
    *,
    source: str | Path | None = None,
    validation: ValidationConfig | str | Path | None = None,
    quarantine_path: str | Path | None = None,
) -> PreparedDataset:
    """Import (when ``source`` is given), validate and hash a data file.

    Args:
        path: CSV/TSV/Parquet, gzip or not; canonical columns unless ``source`` is given.
        source: a source mapping's name in ``configs/sources/`` or a path to its YAML.
        validation: a config or the path of its YAML (default ``configs/validation.yaml``).
        quarantine_path: where rejected rows go (default: :func:`default_quarantine_path`);
            written only when some row was rejected, and before any validation error.

    Raises:
        InputError: unreadable file or missing columns. ConfigError: bad mapping or config.
        DataValidationError: more rows failed than ``max_failure_share`` allows (the
            quarantine file is written first, so the rejected rows can be inspected).
    """
    path = Path(path)
    mapping = load_mapping(source) if source is not None else canonical_mapping()
    config = validation if isinstance(validation, ValidationConfig) else (
        ValidationConfig.load(validation)
    )  # fmt: skip
    imported = import_table(path, mapping)
    checked = validate(imported.data, config, enforce=False)
    report = merged_report(imported, checked.report)
    rejected = quarantine_frame(imported, checked.quarantine)
    written = None
    if len(rejected):
        written = write_table(rejected, quarantine_path or default_quarantine_path(path))
    report.raise_if_failed()
    frame = checked.valid.reset_index(drop=True)
    return PreparedDataset(
        frame=frame,
        report=report,
        data_hash=data_hash(frame),
        source=mapping.name,
        path=path,
        rows_in=imported.rows_in,
        rows_quarantined=len(rejected),
        quarantine_path=written,
        unparseable=dict(imported.unparseable),
    )
