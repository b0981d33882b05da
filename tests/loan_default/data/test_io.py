"""Reading tables whatever their layout: delimiter, compression, index column, format."""

from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd
import pytest

from loan_default.data.io import read_table, sniff_delimiter, write_table
from loan_default.errors import InputError


@pytest.mark.parametrize("sep", [",", "\t", ";", "|"])
def test_delimiter_is_detected(tmp_path: Path, sep: str) -> None:
    path = tmp_path / "t.txt"
    path.write_text(f"a{sep}b{sep}c\n1{sep}2{sep}x\n")
    frame = read_table(path)
    assert list(frame.columns) == ["a", "b", "c"]
    assert frame.iloc[0].tolist() == [1, 2, "x"]


def test_sniff_ignores_delimiters_inside_quotes() -> None:
    assert sniff_delimiter('"a,b"\t"c,d"\te') == "\t"


def test_gzip_is_detected_from_content_not_name(tmp_path: Path) -> None:
    path = tmp_path / "looks_plain.csv"
    path.write_bytes(gzip.compress(b"a,b\n1,2\n"))
    assert read_table(path).to_dict("records") == [{"a": 1, "b": 2}]


def test_parquet_is_detected_from_content_not_name(tmp_path: Path) -> None:
    path = tmp_path / "export.dat"
    pd.DataFrame({"a": [1.5], "b": ["x"]}).to_parquet(path)
    assert read_table(path).to_dict("records") == [{"a": 1.5, "b": "x"}]


def test_unnamed_leading_index_column_is_dropped(tmp_path: Path) -> None:
    path = tmp_path / "t.tsv.gz"
    pd.DataFrame({"a": [5, 6], "b": ["x", "y"]}).to_csv(path, sep="\t")  # writes the index
    assert list(read_table(path).columns) == ["a", "b"]


def test_trailing_delimiter_column_is_dropped(tmp_path: Path) -> None:
    path = tmp_path / "t.tsv"
    path.write_text("a\tb\t\n1\t2\t\n")
    assert list(read_table(path).columns) == ["a", "b"]


def test_quoted_numbers_and_text_columns(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text('id,amount\n000123,"1,234.5"\n')
    frame = read_table(path, text_columns={"id"})
    assert frame.loc[0, "id"] == "000123"
    assert frame.loc[0, "amount"] == "1,234.5"  # left as text for the mapping's number rule


def test_na_values_replace_pandas_defaults(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("a,b\nXNA,NULL\nx,y\n")
    frame = read_table(path, na_values=["XNA"])
    assert pd.isna(frame.loc[0, "a"])
    assert frame.loc[0, "b"] == "NULL"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the file is empty"),
        (b"\n\n", "the file is empty"),
        (b"a,b\n", "no data rows"),
        (b"\x00\x01\x02garbage", "binary content"),
        (b"PAR1 not really parquet", "unreadable Parquet"),
        (b"\x1f\x8b broken gzip", "cannot read file"),
    ],
)
def test_bad_files_raise_input_error_naming_the_file(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message) as info:
        read_table(path)
    assert str(path) in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        read_table(tmp_path / "absent.csv")


def test_latin1_text_is_read(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes("name,v\nJos\xe9,1\n".encode("latin-1"))
    assert read_table(path).loc[0, "name"] == "José"


def test_write_table_round_trips_parquet_and_csv(tmp_path: Path) -> None:
    frame = pd.DataFrame({"a": [1.0, None], "mixed": ["x", 3]})
    parquet = write_table(frame, tmp_path / "sub" / "out.parquet")
    back = read_table(parquet)
    assert back["mixed"].tolist() == ["x", "3"]  # mixed types written as text
    csv = write_table(frame, tmp_path / "out.csv.gz")
    assert read_table(csv)["a"].iloc[0] == 1.0
