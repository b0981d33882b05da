"""The feature repository generated from the schema: views, versions, config, tables."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from loan_default.feature_store.repository import (
    BUREAU,
    HISTORY,
    feature_views_recorded,
    store_config,
    write_repository,
)
from loan_default.feature_store.settings import FeatureStoreSettings
from loan_default.feature_store.tables import EVENT_TIME, append_rows, bureau_rows
from loan_default.schema import BUREAU_FIELDS, FEATURE_FIELDS, Provider, field


def test_the_bureau_view_is_the_schema_s_bureau_fields() -> None:
    assert BUREAU.fields == tuple(f.name for f in BUREAU_FIELDS)
    assert set(BUREAU.fields) == {
        "score_source_1", "score_source_2", "score_source_3", "credit_bureau",
        "social_circle_default",
    }  # fmt: skip
    assert all(f in FEATURE_FIELDS for f in BUREAU_FIELDS)
    assert field("client_income").provider is Provider.APPLICATION


def test_views_carry_a_version_and_a_fields_fingerprint() -> None:
    assert BUREAU.name == "bureau_v1" and HISTORY.name == "client_history_v1"
    recorded = feature_views_recorded()
    assert recorded["bureau"] == f"bureau_v1@{BUREAU.fingerprint}"
    changed = type(BUREAU)(BUREAU.base, 1, BUREAU.fields[:-1], BUREAU.ttl, "")
    assert changed.fingerprint != BUREAU.fingerprint  # a dropped field shows without a new version


def test_repository_has_config_and_tables_but_no_python(tmp_path: Path) -> None:
    settings = FeatureStoreSettings(home=tmp_path)
    repo = write_repository(settings)
    config = yaml.safe_load((repo / "feature_store.yaml").read_text())
    assert config["online_store"] == {"type": "sqlite", "path": "data/online.db"}
    assert not list(repo.rglob("*.py"))  # feast apply would import it
    table = pd.read_parquet(repo / BUREAU.table)
    assert list(table.columns) == ["client_id", EVENT_TIME, *BUREAU.fields] and table.empty
    redis = FeatureStoreSettings(
        home=tmp_path, feature_online_store="redis", feature_redis="127.0.0.1:6400"
    )
    assert store_config(redis)["online_store"] == {
        "type": "redis", "connection_string": "127.0.0.1:6400"
    }  # fmt: skip
    with pytest.raises(ValueError, match="feature_project"):
        FeatureStoreSettings(home=tmp_path, feature_project="Bad-Name")


def test_bureau_rows_are_stamped_at_the_application_and_need_a_client(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "client_id": ["c1", None, "c2"],
            "application_date": pd.to_datetime(
                pd.Series(["2026-01-02", "2026-01-03", None]), utc=True
            ),
            "score_source_2": [0.4, 0.5, 0.6],
            "credit_bureau": [2.0, None, 1.0],
        }
    )
    rows = bureau_rows(frame)
    assert rows["client_id"].tolist() == ["c1"]  # no key or no date: nothing to look up
    assert rows[EVENT_TIME].iloc[0] == pd.Timestamp("2026-01-02", tz="UTC")
    assert rows["score_source_2"].iloc[0] == 0.4 and pd.isna(rows["score_source_1"].iloc[0])
    path = tmp_path / "bureau.parquet"
    assert append_rows(path, rows, BUREAU.fields) == 1
    assert append_rows(path, rows, BUREAU.fields) == 1  # importing the same file twice: no copies
