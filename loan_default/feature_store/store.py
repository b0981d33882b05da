"""Operations on the feature store: apply, materialise, push, status, point-in-time joins.

Each takes the :class:`FeatureStoreSettings`, opens the generated repository with Feast
(imported here, when called) and returns plain values. The CLI (``loanctl features``), the
training pipeline and the monitoring sidecar call these; none of them imports Feast itself.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from loan_default.errors import ConfigError, InputError
from loan_default.feature_store.repository import (
    BUREAU,
    HISTORY,
    PUSH_SOURCE,
    VIEWS,
    definitions,
    ensure_tables,
    write_repository,
)
from loan_default.feature_store.settings import FeatureStoreSettings
from loan_default.feature_store.tables import EVENT_TIME, append_rows, bureau_rows
from loan_default.schema import CLIENT_ID, TIMESTAMP

if TYPE_CHECKING:
    from feast import FeatureStore

log = logging.getLogger(__name__)


def open_store(repo: Path) -> FeatureStore:
    """The Feast store of a generated repository.

    Raises:
        ConfigError: no ``feature_store.yaml`` there (run ``loanctl features apply``).
    """
    if not (repo / "feature_store.yaml").is_file():
        raise ConfigError(f"no feature repository at {repo}: run `loanctl features apply` first")
    from feast import FeatureStore

    return FeatureStore(repo_path=str(repo))


def apply(settings: FeatureStoreSettings) -> list[str]:
    """Generate the repository and register its definitions; the names registered."""
    repo = write_repository(settings)
    entity, views, push = definitions(repo)
    store = open_store(repo)
    store.apply([entity, push, *views])
    return [entity.name, push.name, *(view.name for view in views)]


def write_bureau(settings: FeatureStoreSettings, frame: pd.DataFrame) -> int:
    """Add a canonical frame's bureau rows to the bureau table; rows added (0: no client keys).

    The table is created if needed (no Feast call, no ``feature_store.yaml``: the import
    stage runs this before any ``loanctl features apply``).
    """
    rows = bureau_rows(frame)
    if rows.empty:
        return 0
    repo = ensure_tables(settings)
    append_rows(repo / BUREAU.table, rows, BUREAU.fields)
    return len(rows)


def materialize(settings: FeatureStoreSettings, end: datetime | None = None) -> datetime:
    """Load the bureau table into the online store, up to ``end`` (default now); the end."""
    store = open_store(settings.repo_path)
    end = end or datetime.now(UTC)
    store.materialize_incremental(end_date=end, feature_views=[BUREAU.name])
    return end


def push_history(settings: FeatureStoreSettings, rows: pd.DataFrame) -> int:
    """Push client-history rows (``client_id``, ``event_timestamp``, history fields) to the
    online store and its offline copy; the number of rows pushed."""
    if rows.empty:
        return 0
    missing = [c for c in (CLIENT_ID, EVENT_TIME, *HISTORY.fields) if c not in rows.columns]
    if missing:
        raise InputError(f"client history rows lack column(s) {', '.join(missing)}")
    from feast.data_source import PushMode

    store = open_store(settings.repo_path)
    frame = rows[[CLIENT_ID, EVENT_TIME, *HISTORY.fields]].astype(
        dict.fromkeys(HISTORY.fields, "float64")
    )
    store.push(PUSH_SOURCE, frame, to=PushMode.ONLINE_AND_OFFLINE)
    return len(frame)


def bureau_newest_event(settings: FeatureStoreSettings) -> datetime | None:
    """The newest event in the bureau table (its freshness), without opening Feast."""
    path = settings.repo_path / BUREAU.table
    if not path.exists():
        return None
    times = pd.read_parquet(path, columns=[EVENT_TIME])[EVENT_TIME]
    return None if times.empty else pd.Timestamp(times.max()).to_pydatetime()


@dataclass(frozen=True)
class ViewStatus:
    """One feature view's state: its version label, offline rows, latest event, last load."""

    name: str
    label: str
    offline_rows: int
    clients: int
    latest_event: datetime | None
    materialized_until: datetime | None


def status(settings: FeatureStoreSettings) -> list[ViewStatus]:
    """The state of every view (the registry's and the offline tables')."""
    from feast.errors import FeatureViewNotFoundException

    repo = settings.repo_path
    store = open_store(repo)
    out = []
    for view in VIEWS:
        table = pd.read_parquet(repo / view.table, columns=[CLIENT_ID, EVENT_TIME])
        latest = table[EVENT_TIME].max() if len(table) else None
        try:
            registered = store.get_feature_view(view.name)
        except FeatureViewNotFoundException:
            raise ConfigError(
                f"feature view {view.name} is not registered: run `loanctl features apply`"
            ) from None
        intervals = registered.materialization_intervals
        until = max((end for _, end in intervals), default=None)
        out.append(
            ViewStatus(
                name=view.name,
                label=view.label,
                offline_rows=len(table),
                clients=int(table[CLIENT_ID].nunique()),
                latest_event=None if latest is None else pd.Timestamp(latest).to_pydatetime(),
                materialized_until=until,
            )
        )
    return out


def point_in_time(settings: FeatureStoreSettings, frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its missing bureau fields filled as known at each ``application_date``.

    Feast's point-in-time join: each application sees the latest bureau row of its client at
    or before its date (within the view's TTL), never a later one. A field the row already
    has is kept (the application's own value wins, as at scoring). Rows without a client key
    or date are returned unchanged.
    """
    if CLIENT_ID not in frame.columns or TIMESTAMP not in frame.columns:
        return frame
    keyed = frame[CLIENT_ID].notna() & frame[TIMESTAMP].notna()
    if not keyed.any():
        return frame
    keys = pd.DataFrame(
        {
            CLIENT_ID: frame.loc[keyed, CLIENT_ID].astype(str),
            EVENT_TIME: pd.to_datetime(frame.loc[keyed, TIMESTAMP], utc=True),
        }
    )
    entity = keys.drop_duplicates().reset_index(drop=True)  # one query per (client, instant)
    store = open_store(settings.repo_path)
    features = [f"{BUREAU.name}:{name}" for name in BUREAU.fields]
    found: Any = store.get_historical_features(entity_df=entity, features=features).to_df()
    found[EVENT_TIME] = pd.to_datetime(found[EVENT_TIME], utc=True)
    found = found.drop_duplicates([CLIENT_ID, EVENT_TIME])
    joined = keys.merge(found, on=[CLIENT_ID, EVENT_TIME], how="left", validate="many_to_one")
    joined.index = keys.index
    out = frame.copy()
    for name in BUREAU.fields:
        stored = pd.to_numeric(joined[name], errors="coerce").astype("float64")
        current = out.loc[keyed, name] if name in out else pd.Series(float("nan"), stored.index)
        out.loc[keyed, name] = current.where(current.notna(), stored)
    return out
