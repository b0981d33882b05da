"""The data version: a content hash independent of storage, row order and column order."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from loan_default.data.io import read_table, write_table
from loan_default.data.versioning import HASH_VERSION, data_hash, row_digests
from loan_default.schema import FIELDS, LABEL


@pytest.fixture
def frame() -> pd.DataFrame:
    rows = []
    for i in range(6):
        row = {spec.name: spec.example for spec in FIELDS if spec.name != LABEL}
        row.update(application_id=f"A{i}", client_income=1000.0 + i, default=i % 2)
        rows.append(row)
    return pd.DataFrame(rows)


def test_row_order_and_column_order_do_not_matter(frame: pd.DataFrame) -> None:
    reference = data_hash(frame)
    assert data_hash(frame.sample(frac=1.0, random_state=3)) == reference
    assert data_hash(frame[list(reversed(frame.columns))]) == reference
    assert data_hash(frame.assign(extra_column=1)) == reference  # non-canonical ignored


def test_storage_format_does_not_matter(frame: pd.DataFrame, tmp_path: Path) -> None:
    parquet = read_table(write_table(frame, tmp_path / "d.parquet"))
    csv = read_table(write_table(frame, tmp_path / "d.csv"))
    assert data_hash(parquet) == data_hash(csv) == data_hash(frame)


def test_any_content_change_changes_the_hash(frame: pd.DataFrame) -> None:
    reference = data_hash(frame)
    changed = frame.copy()
    changed.loc[2, "client_income"] = 1002.01
    assert data_hash(changed) != reference
    assert data_hash(frame.iloc[1:]) != reference
    assert data_hash(pd.concat([frame, frame.iloc[[0]]])) != reference  # duplicates count
    assert data_hash(frame.drop(columns=LABEL)) != reference
    missing = frame.copy()
    missing.loc[0, "client_occupation"] = None
    assert data_hash(missing) != reference


def test_equal_values_hash_equally(frame: pd.DataFrame) -> None:
    negative_zero = frame.assign(child_count=-0.0)
    assert data_hash(negative_zero) == data_hash(frame.assign(child_count=0.0))
    as_int = frame.assign(child_count=np.int64(2))
    assert data_hash(as_int) == data_hash(frame.assign(child_count=2.0))


def test_one_digest_per_row(frame: pd.DataFrame) -> None:
    digests = row_digests(frame)
    assert len(digests) == len(frame) == len(set(digests))


def test_hash_follows_its_documented_recipe() -> None:
    """Recomputed from the module's description, so the bytes cannot change by accident."""
    tiny = pd.DataFrame(
        {"application_id": ["A1", "A2"], "client_income": [100.0, np.nan], "age_days": [7000, 8000]}
    )
    columns = [spec.name for spec in FIELDS if spec.name != LABEL]
    numeric = [spec.name for spec in FIELDS if spec.is_numeric and spec.name != LABEL]
    text = [name for name in columns if name not in numeric]
    digests = []
    for _, row in tiny.reindex(columns=columns).iterrows():
        numbers = np.array([row[name] for name in numeric], dtype="<f8")
        texts = "\x1f".join("" if pd.isna(row[name]) else str(row[name]) for name in text)
        digests.append(hashlib.sha256(numbers.tobytes() + texts.encode()).digest())
    expected = hashlib.sha256(f"{HASH_VERSION}\n{','.join(columns)}\n".encode())
    for digest in sorted(digests):
        expected.update(digest)
    assert data_hash(tiny) == expected.hexdigest()
    # pinned: changes only with the canonical columns (client_id added) or the recipe
    assert data_hash(tiny) == "2a4e9f46cc4b00b36630429f9c62d7f1aeee1776f3732ab0a218797b4b4e9c44"
