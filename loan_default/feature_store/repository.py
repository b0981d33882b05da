"""The feature repository, generated from the canonical schema (one source of truth).

Generated into ``<home>/feature_repo`` (git-ignored, like everything under the home)::

    feature_store.yaml        project, registry, online store (SQLite or Redis), file offline
    data/registry.db          Feast's registry (written by ``loanctl features apply``)
    data/online.db            the SQLite online store (when it is the online store)
    tables/bureau.parquet     the bureau view's source: client_id, event_timestamp, bureau fields
    tables/client_history.parquet  the history view's offline copy (pushed rows)

The repository holds **no Python file**: ``feast apply`` imports every ``.py`` in it, so the
definitions are built here, in code, from :data:`loan_default.schema.BUREAU_FIELDS` and
:data:`HISTORY_FIELDS`, and applied with :func:`loan_default.feature_store.store.apply`
(``loanctl features apply``), not with Feast's CLI.

Definitions: the entity ``client`` (join key ``client_id``); the bureau view (a Parquet file
source the import stage writes, TTL one year); the client-history view (a push source the
monitoring sidecar pushes to, with that Parquet file as its offline copy, TTL 7 days). Each
view's name carries its version (``bureau_v1``); a tag ``fields`` holds a hash of its fields
and types, so a changed field list without a new version is visible, and a trained model
records both (``ModelMetadata.feature_views``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from loan_default.feature_store.settings import FeatureStoreSettings
from loan_default.schema import BUREAU_FIELDS, CLIENT_ID

if TYPE_CHECKING:
    from feast import Entity, FeatureView, PushSource

ENTITY = "client"
EVENT_TIME = "event_timestamp"
"""The column of an offline table saying when a row's values became known."""


@dataclass(frozen=True, slots=True)
class ViewSpec:
    """One feature view: its base name, version, fields (all float64 in the store), TTL."""

    base: str
    version: int
    fields: tuple[str, ...]
    ttl: timedelta
    description: str

    @property
    def name(self) -> str:
        return f"{self.base}_v{self.version}"

    @property
    def fingerprint(self) -> str:
        """Short hash of the fields (names and the store's type): the ``fields`` tag."""
        described = json.dumps([self.name, list(self.fields), "float64"]).encode()
        return hashlib.sha256(described).hexdigest()[:12]

    @property
    def label(self) -> str:
        """``name@fingerprint``: what a model's metadata records."""
        return f"{self.name}@{self.fingerprint}"

    @property
    def table(self) -> str:
        return f"tables/{self.base}.parquet"


HISTORY_FIELDS: dict[str, str] = {
    "applications_30d": "Applications by the client in the 30 days before the computation.",
    "applications_90d": "Applications by the client in the 90 days before the computation.",
    "days_since_previous_application": "Days since the client's latest application.",
    "previous_defaults": "Earlier applications of the client observed to default (feedback).",
}
"""The client-history view's fields (computed by ``monitoring.client_history``). They are
stored and served, not scored: they are not canonical fields of the application."""

BUREAU = ViewSpec(
    "bureau",
    1,
    tuple(f.name for f in BUREAU_FIELDS),
    timedelta(days=365),
    "Bureau-supplied fields of the canonical schema, by client, as the bureau reported them.",
)
HISTORY = ViewSpec(
    "client_history",
    1,
    tuple(HISTORY_FIELDS),
    timedelta(days=7),
    "The client's own application history, computed from the traffic and feedback logs.",
)
VIEWS: tuple[ViewSpec, ...] = (BUREAU, HISTORY)
PUSH_SOURCE = "client_history_push"


def feature_views_recorded() -> dict[str, str]:
    """What a model trained with the store records: view base name -> ``name@fingerprint``."""
    return {view.base: view.label for view in VIEWS}


def store_config(settings: FeatureStoreSettings) -> dict[str, Any]:
    """The content of ``feature_store.yaml`` for these settings."""
    online: dict[str, Any] = {"type": "sqlite", "path": "data/online.db"}
    if settings.feature_online_store == "redis":
        online = {"type": "redis", "connection_string": settings.feature_redis}
    return {
        "project": settings.feature_project,
        "provider": "local",
        "registry": "data/registry.db",
        "online_store": online,
        "offline_store": {"type": "file"},
        "entity_key_serialization_version": 3,
    }


def write_repository(settings: FeatureStoreSettings) -> Path:
    """Write ``feature_store.yaml`` (and empty offline tables where none exist); the path.

    Rewriting is safe: the registry, tables and online data are kept.
    """
    repo = ensure_tables(settings)
    (repo / "data").mkdir(parents=True, exist_ok=True)
    text = "# Generated by loanctl features apply from loan_default/schema.py: do not edit.\n"
    text += yaml.safe_dump(store_config(settings), sort_keys=False)
    (repo / "feature_store.yaml").write_text(text, encoding="utf-8")
    return repo


def ensure_tables(settings: FeatureStoreSettings) -> Path:
    """Create the offline tables (empty) where none exist; the repository's path.

    Without ``feature_store.yaml``: the import stage fills the bureau table before anyone ran
    ``loanctl features apply``, and the sidecar pushes only to an applied repository.
    """
    from loan_default.feature_store.tables import ensure_table

    repo = settings.repo_path
    for view in VIEWS:
        ensure_table(repo / view.table, view.fields)
    return repo


def definitions(repo: Path) -> tuple[Entity, list[FeatureView], PushSource]:
    """The Feast objects of the repository at ``repo`` (imports Feast)."""
    from feast import Entity, FeatureView, Field, FileSource, PushSource, ValueType
    from feast.types import Float64, String

    client = Entity(
        name=ENTITY,
        join_keys=[CLIENT_ID],
        value_type=ValueType.STRING,
        description="A lender's client (the canonical client_id).",
    )

    def source(view: ViewSpec) -> FileSource:
        return FileSource(
            name=f"{view.base}_source",
            path=str(repo / view.table),
            timestamp_field=EVENT_TIME,
        )

    push = PushSource(name=PUSH_SOURCE, batch_source=source(HISTORY))
    views = [
        FeatureView(
            name=view.name,
            entities=[client],
            ttl=view.ttl,
            schema=[Field(name=CLIENT_ID, dtype=String)]
            + [Field(name=name, dtype=Float64) for name in view.fields],
            source=push if view is HISTORY else source(view),
            online=True,
            description=view.description,
            tags={"version": str(view.version), "fields": view.fingerprint},
        )
        for view in VIEWS
    ]
    return client, views, push
