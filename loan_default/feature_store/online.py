"""The serving lookup on Feast's online store: :class:`FeastLookup` (``FeatureLookup``).

Built once per worker from the repository path (``LOAN_FEATURE_STORE=feast:<repo>``); each
:meth:`FeastLookup.lookup` is one ``get_online_features`` call for all the clients of a
request, reading the bureau view's fields (canonical names, typed by the schema) and each
field's event time. The history view's fields are not canonical fields, so they are not
returned here (nothing scores them).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from loan_default.enrichment import StoredFeatures
from loan_default.feature_store.repository import BUREAU
from loan_default.feature_store.store import open_store
from loan_default.schema import CLIENT_ID, FIELDS_BY_NAME, Kind


class FeastLookup:
    """Bureau fields by client key from a Feast repository's online store.

    Args:
        repo: the generated repository (``feature_store.yaml``: SQLite or Redis online store).

    Raises:
        ConfigError: no repository at ``repo``.
    """

    def __init__(self, repo: Path) -> None:
        self._store = open_store(Path(repo))
        self._features = [f"{BUREAU.name}:{name}" for name in BUREAU.fields]

    def lookup(self, client_ids: Sequence[str]) -> list[StoredFeatures | None]:
        """The stored bureau fields of each client, ``None`` for a client without any."""
        if not client_ids:
            return []
        response = self._store.get_online_features(
            features=self._features, entity_rows=[{CLIENT_ID: c} for c in client_ids]
        ).to_dict(include_event_timestamps=True)
        return [_stored(response, i) for i in range(len(client_ids))]


def _typed(name: str, value: Any) -> Any:
    if FIELDS_BY_NAME[name].kind is Kind.INTEGER:
        return round(value)
    return float(value)


def _stored(response: dict[str, list[Any]], i: int) -> StoredFeatures | None:
    values: dict[str, Any] = {}
    as_of: dict[str, datetime] = {}
    for name in BUREAU.fields:
        value = response[name][i]
        if value is None or value != value:  # absent, or NaN (a missing field in the row)
            continue
        values[name] = _typed(name, value)
        when = response[f"{name}__ts"][i]
        as_of[name] = _aware(when)
    return StoredFeatures(values=values, as_of=as_of) if values else None


def _aware(when: Any) -> datetime:
    if isinstance(when, datetime):
        return when if when.tzinfo else when.replace(tzinfo=UTC)
    return datetime.fromtimestamp(float(when), UTC)
