"""What a feature store gives the service: stored fields of a client, and when each was known.

The service fills the fields an application leaves out from a feature store, looked up by the
application's client key (``client_id``). This module holds the contract between the two
sides, independent of any store:

* :class:`StoredFeatures`, one client's stored fields (canonical names) and the event time of
  each;
* :class:`FeatureLookup`, the protocol a store implements (Feast's online store:
  ``loan_default.feature_store.online.FeastLookup``; :class:`InMemoryLookup` here, for tests
  and for lenders with small tables and no Feast);
* :func:`complete`, the one rule of enrichment: the request's own values win, a stored value
  fills only a field the request leaves out (absent or null).

A lookup is synchronous and may block (a network store); the serving backend bounds it with a
timeout and runs it off the event loop (``runners.enrichment``).
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from loan_default.errors import ConfigError
from loan_default.schema import CLIENT_ID, FEATURE_FIELDS, FIELDS_BY_NAME, Kind

CLIENT_KEY = CLIENT_ID
"""The canonical field naming the client (an identifier, never scored)."""
STORABLE_FIELDS: frozenset[str] = frozenset(f.name for f in FEATURE_FIELDS)
"""The fields a store may fill: the scored ones (never the label, identifiers or protected
attributes)."""
EVENT_TIME = "event_timestamp"
"""The column of a stored row saying when its values became known (as in Feast)."""


@dataclass(frozen=True, slots=True)
class StoredFeatures:
    """One client's stored fields.

    Attributes:
        values: canonical field name -> stored value (only fields the store has a value for).
        as_of: canonical field name -> when that value became known (timezone-aware).
    """

    values: Mapping[str, Any]
    as_of: Mapping[str, datetime]


class FeatureLookup(Protocol):
    """A feature store's online read, by client key.

    A store whose ``lookup`` never blocks (a dict read) may say so with a class attribute
    ``blocking = False``: the service then calls it on the event loop, without a thread.
    Any other store is called from a thread, with a timeout.
    """

    def lookup(self, client_ids: Sequence[str]) -> list[StoredFeatures | None]:
        """The stored fields of each client, in order; ``None`` for a client without any.

        May block and may raise (a store that is down): the caller bounds and contains it.
        """
        ...


def complete(
    application: Mapping[str, Any], stored: StoredFeatures | None
) -> tuple[dict[str, Any], dict[str, datetime]]:
    """The application with the fields it leaves out filled from ``stored``.

    Returns:
        The completed application (a new dict) and, for each field taken from the store, the
        time its value became known. Fields the request carries (not null) are never replaced;
        only :data:`STORABLE_FIELDS` are filled.
    """
    completed = dict(application)
    taken: dict[str, datetime] = {}
    if stored is None:
        return completed, taken
    for name, value in stored.values.items():
        if name in STORABLE_FIELDS and value is not None and completed.get(name) is None:
            completed[name] = value
            taken[name] = stored.as_of[name]
    return completed, taken


class InMemoryLookup:
    """A feature store held in memory: a dict of client key -> :class:`StoredFeatures`.

    Real and complete for small tables (it is what ``LOAN_FEATURE_STORE=memory:<file>``
    serves); tests use it as the store that answers.
    """

    blocking = False
    """A dict read: called on the event loop (``FeatureLookup``)."""

    def __init__(self, entries: Mapping[str, StoredFeatures]) -> None:
        self._entries = dict(entries)

    def __len__(self) -> int:
        return len(self._entries)

    def lookup(self, client_ids: Sequence[str]) -> list[StoredFeatures | None]:
        """The stored fields of each client, ``None`` for an unknown one."""
        return [self._entries.get(client_id) for client_id in client_ids]

    @classmethod
    def from_rows(cls, rows: Iterable[Mapping[str, Any]]) -> InMemoryLookup:
        """A store from feature rows, as a feature view holds them: ``client_id``,
        ``event_timestamp`` (ISO 8601 with a timezone) and canonical fields.

        A client may have several rows (updates over time): each field takes its latest
        non-null value, with that row's event time. Values are checked against the schema's
        kinds (a number must be a finite number); ranges are not checked here: the service
        validates stored values as it validates the request's.

        Raises:
            ConfigError: a row without a client key or event time, an unknown or unstorable
                field, or a value of the wrong kind (naming the row and the field).
        """
        latest: dict[str, dict[str, tuple[datetime, Any]]] = {}
        for number, row in enumerate(rows, start=1):
            client_id, when = _key_and_time(row, number)
            fields = latest.setdefault(client_id, {})
            for name, raw in row.items():
                if name in (CLIENT_KEY, EVENT_TIME):
                    continue
                value = _stored_value(name, raw, number)
                if value is not None and (name not in fields or fields[name][0] <= when):
                    fields[name] = (when, value)
        return cls(
            {
                client_id: StoredFeatures(
                    values={name: value for name, (_, value) in fields.items()},
                    as_of={name: when for name, (when, _) in fields.items()},
                )
                for client_id, fields in latest.items()
                if fields
            }
        )

    @classmethod
    def from_file(cls, path: Path) -> InMemoryLookup:
        """A store from a ``.jsonl`` (one row object per line) or ``.csv`` file of feature rows
        (see :meth:`from_rows`; in a CSV an empty cell is missing).

        Raises:
            ConfigError: the file is missing, unreadable or holds an invalid row.
        """
        if path.suffix not in (".csv", ".jsonl"):
            raise ConfigError(f"feature store file {path}: expected a .jsonl or .csv file")
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"feature store file {path}: {exc.strerror or exc}") from exc
        if path.suffix == ".csv":
            rows: list[Mapping[str, Any]] = [
                {k: (v if v != "" else None) for k, v in row.items()}
                for row in csv.DictReader(text.splitlines())
            ]
        else:
            rows = []
            for number, line in enumerate(text.splitlines(), start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ConfigError(f"{path}: line {number} is not JSON ({exc.msg})") from exc
                if not isinstance(row, dict):
                    raise ConfigError(f"{path}: line {number} is not a JSON object")
                rows.append(row)
        try:
            return cls.from_rows(rows)
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from exc


def _key_and_time(row: Mapping[str, Any], number: int) -> tuple[str, datetime]:
    client_id = row.get(CLIENT_KEY)
    if not isinstance(client_id, str) or not client_id:
        raise ConfigError(f"row {number}: {CLIENT_KEY} must be a non-empty text")
    raw = row.get(EVENT_TIME)
    try:
        when = raw if isinstance(raw, datetime) else datetime.fromisoformat(str(raw))
    except ValueError as exc:
        raise ConfigError(f"row {number}: {EVENT_TIME} {raw!r} is not ISO 8601") from exc
    if when.tzinfo is None:
        raise ConfigError(f"row {number}: {EVENT_TIME} {raw!r} has no timezone")
    return client_id, when.astimezone(UTC)


def _stored_value(name: str, raw: Any, number: int) -> Any:
    if name not in STORABLE_FIELDS:
        known = "a scored field" if name in FIELDS_BY_NAME else "a canonical field"
        raise ConfigError(f"row {number}: {name!r} is not {known}; a store fills scored fields")
    if raw is None:
        return None
    kind = FIELDS_BY_NAME[name].kind
    try:
        if kind is Kind.BOOLEAN:
            return _boolean(raw)
        if kind in (Kind.NUMBER, Kind.INTEGER):
            value = float(raw)
            if not math.isfinite(value):
                raise ValueError(raw)
            return int(value) if kind is Kind.INTEGER and value.is_integer() else value
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"row {number}: {name} = {raw!r} is not {kind.value}") from exc
    return str(raw)


def _boolean(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in ("1", "true"):
        return True
    if text in ("0", "false"):
        return False
    raise ValueError(raw)
