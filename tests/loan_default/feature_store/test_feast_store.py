"""The Feast store for real: apply, import, materialise, online lookup, point-in-time joins,
history push, status; and Redis answering like SQLite."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from loan_default.data.prepare import PreparedDataset
from loan_default.data.validation import ValidationReport
from loan_default.data.versioning import data_hash
from loan_default.errors import ConfigError
from loan_default.feature_store import store as fs
from loan_default.feature_store.online import FeastLookup
from loan_default.feature_store.repository import BUREAU, HISTORY
from loan_default.feature_store.settings import FeatureStoreSettings
from tests.loan_default.feature_store.redis_server import redis_server
from training.feature_join import join_feature_store

pytestmark = pytest.mark.slow

# c1's bureau report changes on 1 March: an application of February must see the January one.
BUREAU_FEED = pd.DataFrame(
    {
        "client_id": ["c1", "c1", "c2"],
        "application_date": pd.to_datetime(["2026-01-10", "2026-03-01", "2026-02-01"], utc=True),
        "score_source_1": [0.2, 0.9, 0.5],
        "credit_bureau": [1.0, 4.0, np.nan],
    }
)
HISTORY_ROWS = pd.DataFrame(
    {
        "client_id": ["c1", "c2"],
        "event_timestamp": [datetime.now(UTC)] * 2,
        "applications_30d": [2.0, 0.0],
        "applications_90d": [3.0, 1.0],
        "days_since_previous_application": [1.5, 40.0],
        "previous_defaults": [1.0, 0.0],
    }
)


@dataclass
class Store:
    settings: FeatureStoreSettings
    lookup: FeastLookup


def _build(settings: FeatureStoreSettings) -> Store:
    names = fs.apply(settings)
    assert names == ["client", "client_history_push", "bureau_v1", "client_history_v1"]
    assert fs.write_bureau(settings, BUREAU_FEED) == 3
    fs.materialize(settings, datetime(2026, 11, 30, tzinfo=UTC))
    assert fs.push_history(settings, HISTORY_ROWS) == 2
    return Store(settings, FeastLookup(settings.repo_path))


@pytest.fixture(scope="module")
def sqlite_store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    return _build(FeatureStoreSettings(home=tmp_path_factory.mktemp("sqlite-home")))


@pytest.fixture(scope="module")
def redis_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    home = tmp_path_factory.mktemp("redis-home")
    with redis_server(home / "redis") as address:
        settings = FeatureStoreSettings(
            home=home, feature_online_store="redis", feature_redis=address
        )
        yield _build(settings)


def test_lookup_gives_the_latest_bureau_fields_typed_with_their_event_time(
    sqlite_store: Store,
) -> None:
    c1, c2, unknown = sqlite_store.lookup.lookup(["c1", "c2", "nobody"])
    assert unknown is None
    assert c1 is not None and c1.values == {"score_source_1": 0.9, "credit_bureau": 4}
    assert isinstance(c1.values["credit_bureau"], int)  # an integer field comes back an int
    assert c1.as_of["score_source_1"] == datetime(2026, 3, 1, tzinfo=UTC)
    assert c2 is not None and c2.values == {"score_source_1": 0.5}  # a missing field stays out
    assert sqlite_store.lookup.lookup([]) == []


def test_lookups_from_many_threads_agree(sqlite_store: Store, redis_store: Store) -> None:
    """The serving side calls one lookup from a thread pool: answers stay per-request."""
    from concurrent.futures import ThreadPoolExecutor

    requests = [["c1"], ["c2", "c1"], ["nobody", "c2"], ["c1", "nobody", "c1"]] * 25
    for store in (sqlite_store, redis_store):
        expected = [store.lookup.lookup(r) for r in requests[:4]] * 25
        with ThreadPoolExecutor(max_workers=8) as pool:
            assert list(pool.map(store.lookup.lookup, requests)) == expected


def test_point_in_time_join_never_leaks_a_later_bureau_update(sqlite_store: Store) -> None:
    applications = pd.DataFrame(
        {
            "client_id": ["c1", "c1", "c1", None, "c2"],
            "application_date": pd.to_datetime(
                ["2026-02-15", "2026-04-01", "2026-04-01", "2026-04-01", "2026-01-20"], utc=True
            ),
            "score_source_1": [np.nan, np.nan, 0.33, np.nan, np.nan],
            "credit_bureau": [np.nan] * 5,
            "default": [0.0, 1.0, 0.0, 0.0, 0.0],
        }
    )
    joined = fs.point_in_time(sqlite_store.settings, applications)
    # February: the January report (0.2), not March's 0.9 that came later
    assert joined["score_source_1"].iloc[0] == 0.2 and joined["credit_bureau"].iloc[0] == 1.0
    assert joined["score_source_1"].iloc[1] == 0.9  # April: the March update
    assert joined["score_source_1"].iloc[2] == 0.33  # the row's own value wins
    assert np.isnan(joined["score_source_1"].iloc[3])  # no client key: unchanged
    assert np.isnan(joined["score_source_1"].iloc[4])  # before c2's first report: nothing
    assert joined["default"].tolist() == applications["default"].tolist()


def test_training_join_rehashes_and_records_the_view_version(sqlite_store: Store) -> None:
    frame = pd.DataFrame(
        {
            "client_id": ["c1"],
            "application_date": pd.to_datetime(["2026-02-15"], utc=True),
            "client_income": [5000.0],
        }
    )
    prepared = PreparedDataset(
        frame=frame, report=ValidationReport(rows_in=1, rows_valid=1, max_failure_share=0.0),
        data_hash=data_hash(frame), source="canonical", path=Path("x.parquet"), rows_in=1,
        rows_quarantined=0,
    )  # fmt: skip
    joined = join_feature_store(prepared, sqlite_store.settings)
    assert joined.frame["score_source_1"].iloc[0] == 0.2
    assert joined.data_hash != prepared.data_hash
    assert joined.feature_views == {"bureau": BUREAU.label}


def test_status_and_pushed_history(sqlite_store: Store) -> None:
    views = {v.name: v for v in fs.status(sqlite_store.settings)}
    bureau, history = views[BUREAU.name], views[HISTORY.name]
    assert (bureau.offline_rows, bureau.clients) == (3, 2)
    assert bureau.latest_event == datetime(2026, 3, 1, tzinfo=UTC)
    assert bureau.materialized_until is not None and history.offline_rows == 2
    assert fs.bureau_newest_event(sqlite_store.settings) == bureau.latest_event
    online = _history(sqlite_store)
    assert online["applications_90d"] == [3.0, 1.0] and online["previous_defaults"] == [1.0, 0.0]


def test_redis_gives_the_same_answers_as_sqlite(sqlite_store: Store, redis_store: Store) -> None:
    clients = ["c1", "c2", "nobody"]
    assert redis_store.lookup.lookup(clients) == sqlite_store.lookup.lookup(clients)
    assert _history(redis_store) == _history(sqlite_store)


def test_an_unapplied_repository_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="loanctl features apply"):
        FeastLookup(tmp_path / "nothing")


def _history(store: Store) -> dict[str, list[object]]:
    feast_store = fs.open_store(store.settings.repo_path)
    response = feast_store.get_online_features(
        features=[f"{HISTORY.name}:{name}" for name in HISTORY.fields],
        entity_rows=[{"client_id": "c1"}, {"client_id": "c2"}],
    ).to_dict()
    return {name: response[name] for name in HISTORY.fields}
