"""The lookup contract: stored rows -> latest value per field, and the fill-only-missing rule."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from loan_default.enrichment import InMemoryLookup, StoredFeatures, complete
from loan_default.errors import ConfigError

T1 = datetime(2026, 10, 1, tzinfo=UTC)
T2 = datetime(2026, 11, 1, tzinfo=UTC)


def test_latest_non_null_value_per_field_wins_with_its_own_time() -> None:
    store = InMemoryLookup.from_rows(
        [
            {
                "client_id": "c1",
                "event_timestamp": T2.isoformat(),
                "score_source_1": 0.7,
                "credit_bureau": None,
            },
            {
                "client_id": "c1",
                "event_timestamp": T1.isoformat(),
                "score_source_1": 0.2,
                "credit_bureau": 3,
            },
        ]
    )
    (found, missing) = store.lookup(["c1", "nobody"])
    assert missing is None
    assert found == StoredFeatures(
        values={"score_source_1": 0.7, "credit_bureau": 3},
        as_of={"score_source_1": T2, "credit_bureau": T1},
    )


def test_complete_fills_only_what_the_request_leaves_out() -> None:
    stored = StoredFeatures(
        values={"score_source_1": 0.7, "score_source_2": 0.4, "credit_bureau": 3},
        as_of={"score_source_1": T2, "score_source_2": T2, "credit_bureau": T1},
    )
    application = {"score_source_1": 0.1, "score_source_2": None, "age_days": 9000.0}
    completed, taken = complete(application, stored)
    assert completed == {
        "score_source_1": 0.1,
        "score_source_2": 0.4,
        "credit_bureau": 3,
        "age_days": 9000.0,
    }
    assert taken == {"score_source_2": T2, "credit_bureau": T1}
    assert application["score_source_2"] is None  # the request is not modified
    assert complete(application, None) == (application, {})


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"event_timestamp": T1.isoformat()}, "client_id must be"),
        ({"client_id": "c", "event_timestamp": "yesterday"}, "is not ISO 8601"),
        ({"client_id": "c", "event_timestamp": "2026-10-01T00:00:00"}, "has no timezone"),
        ({"client_id": "c", "event_timestamp": T1.isoformat(), "default": 1}, "not a scored"),
        ({"client_id": "c", "event_timestamp": T1.isoformat(), "bogus": 1}, "not a canonical"),
        ({"client_id": "c", "event_timestamp": T1.isoformat(), "credit_bureau": "x"}, "integer"),
        ({"client_id": "c", "event_timestamp": T1.isoformat(), "score_source_1": "nan"}, "number"),
    ],
)
def test_bad_rows_are_refused_naming_row_and_field(row: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        InMemoryLookup.from_rows([row])


def test_files_jsonl_and_csv_give_the_same_store(tmp_path: Path) -> None:
    rows = [
        {
            "client_id": "c1",
            "event_timestamp": T1.isoformat(),
            "score_source_3": 0.5,
            "credit_bureau": 2,
        },
        {
            "client_id": "c2",
            "event_timestamp": T2.isoformat(),
            "score_source_3": None,
            "credit_bureau": 0,
        },
    ]
    jsonl = tmp_path / "store.jsonl"
    jsonl.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    csv = tmp_path / "store.csv"
    csv.write_text(
        "client_id,event_timestamp,score_source_3,credit_bureau\n"
        f"c1,{T1.isoformat()},0.5,2\nc2,{T2.isoformat()},,0\n"
    )
    a, b = InMemoryLookup.from_file(jsonl), InMemoryLookup.from_file(csv)
    assert a.lookup(["c1", "c2"]) == b.lookup(["c1", "c2"])
    assert a.lookup(["c2"])[0] == StoredFeatures({"credit_bureau": 0}, {"credit_bureau": T2})
    with pytest.raises(ConfigError, match=r"expected a \.jsonl or \.csv"):
        InMemoryLookup.from_file(tmp_path / "store.parquet")
    with pytest.raises(ConfigError, match=r"missing\.jsonl"):
        InMemoryLookup.from_file(tmp_path / "missing.jsonl")
