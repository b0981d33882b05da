"""Enrichment at scoring time: fields an application leaves out, filled from a feature store.

When an application carries a client key (``client_id``), the serving backend asks the
configured :class:`~loan_default.enrichment.FeatureLookup` for the client's stored fields and
fills the ones the request leaves out (absent or null; the request's own values win,
:func:`loan_default.enrichment.complete`). Each prediction then says what was filled and how old
it was (its ``enrichment`` field, also in the traffic log).

A store must never make scoring fail or stall:

* the lookup runs in a small thread pool of its own (a network store blocks; the event loop
  keeps serving), and the lookups of one event-loop turn share one call (as the scoring does,
  ``runners.batching``), so a busy worker pays one thread hop per turn, not per request;
* each call waits at most ``LOAN_FEATURE_LOOKUP_TIMEOUT`` seconds; a store that is slow, down or
  raising leaves the application as it came (request-only scoring), counted by
  ``loan_feature_lookups_total{outcome}`` (hit, miss, timeout, error) for the alert rules;
* a stored value goes through the field's own rule (the request model's type and range): one
  that breaks it is not used (the field stays missing, as without a store), named in
  ``enrichment.rejected`` and counted by ``loan_feature_rejected_values_total{field}``. The
  caller did not send it, so it is no reason to refuse the call.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Annotated, Any, get_args

from pydantic import TypeAdapter, ValidationError

from loan_default.api import LoanApplication
from loan_default.bodies import EnrichmentBody, LookupOutcome
from loan_default.enrichment import (
    CLIENT_KEY,
    STORABLE_FIELDS,
    FeatureLookup,
    InMemoryLookup,
    StoredFeatures,
    complete,
)
from loan_default.errors import ConfigError
from loan_default.schema import FIELDS_BY_NAME, Kind
from loan_default.traffic import utcnow
from runners import metrics
from runners.settings import ServingSettings

log = logging.getLogger(__name__)

Found = list[StoredFeatures | None]


def feature_lookup(spec: str, *, feast_factory: str) -> FeatureLookup | None:
    """The lookup ``LOAN_FEATURE_STORE`` names, built once at a worker's start-up.

    Args:
        spec: ``none``; ``memory:<file>`` (:class:`~loan_default.enrichment.InMemoryLookup`
            from a ``.jsonl``/``.csv`` file of feature rows); ``feast:<repository>`` (the
            ``feast_factory`` called with the repository's path).
        feast_factory: ``module:callable`` building a Feast lookup, imported only when
            ``spec`` asks for Feast (so serving never imports Feast otherwise).

    Raises:
        ConfigError: an unknown kind, a file that cannot be read, a factory that cannot be
            imported.
    """
    kind, _, target = spec.partition(":")
    if kind == "none" and not target:
        return None
    if kind == "memory" and target:
        return InMemoryLookup.from_file(Path(target))
    if kind == "feast" and target:
        module_name, _, name = feast_factory.partition(":")
        try:
            factory = getattr(importlib.import_module(module_name), name)
        except (ImportError, AttributeError) as exc:
            raise ConfigError(
                f"LOAN_FEATURE_STORE={spec}: cannot import {feast_factory!r} "
                f"(LOAN_FEATURE_STORE_FEAST_FACTORY): {exc}"
            ) from exc
        lookup: FeatureLookup = factory(Path(target))
        return lookup
    raise ConfigError(
        f"LOAN_FEATURE_STORE={spec!r}: expected none, memory:<file> or feast:<repository>"
    )


def enricher(settings: ServingSettings) -> Enricher | None:
    """The worker's enricher from its settings (None without a feature store).

    Raises:
        ConfigError: ``LOAN_FEATURE_STORE`` names a store that cannot be opened.
    """
    lookup = feature_lookup(
        settings.feature_store, feast_factory=settings.feature_store_feast_factory
    )
    if lookup is None:
        return None
    log.info("completing applications from the feature store %s", settings.feature_store)
    return Enricher(
        lookup,
        timeout=settings.feature_lookup_timeout,
        threads=settings.feature_lookup_threads,
    )


class Enricher:
    """Fills applications from a feature store, bounded by a timeout (see the module doc).

    Args:
        lookup: the store.
        timeout: the longest a call waits for the store, in seconds.
        threads: the lookup threads (a store that hangs holds at most these).
    """

    def __init__(self, lookup: FeatureLookup, *, timeout: float, threads: int = 2) -> None:
        self.lookup = lookup
        self.timeout = timeout
        self._executor = ThreadPoolExecutor(threads, thread_name_prefix="feature-lookup")
        self._pending: list[str] = []
        self._shared: asyncio.Future[Found] | None = None
        self._counters = {o: metrics.FEATURE_LOOKUPS.labels(o) for o in get_args(LookupOutcome)}

    async def enrich(
        self, records: list[dict[str, Any]]
    ) -> tuple[list[dict[str, Any]], list[EnrichmentBody | None] | None]:
        """The applications completed from the store, and each one's enrichment (None for an
        application without a client key); ``(records, None)`` when none has a key."""
        keyed = [i for i, record in enumerate(records) if record.get(CLIENT_KEY) is not None]
        if not keyed:
            return records, None
        found: Found | None = None
        failure: LookupOutcome = "error"
        try:
            found = await asyncio.wait_for(self._shared_part(records, keyed), self.timeout)
        except TimeoutError:
            failure = "timeout"
        except Exception:  # the store's own failure, whatever its type: scoring goes on
            log.warning("feature lookup failed; scoring without the store", exc_info=True)
        completed = list(records)
        notes: list[EnrichmentBody | None] = [None] * len(records)
        now = utcnow()
        for n, i in enumerate(keyed):
            stored = found[n] if found is not None else None
            outcome: LookupOutcome = (
                failure if found is None else "hit" if stored is not None else "miss"
            )
            self._counters[outcome].inc()
            completed[i], notes[i] = _fill(records[i], stored, outcome, now)
        return completed, notes

    def _shared_part(
        self, records: list[dict[str, Any]], keyed: list[int]
    ) -> asyncio.Future[Found]:
        """This call's part of the turn's shared lookup (one store call for the whole turn)."""
        start = len(self._pending)
        self._pending.extend(str(records[i][CLIENT_KEY]) for i in keyed)
        if self._shared is None:
            loop = asyncio.get_running_loop()
            self._shared = loop.create_future()
            loop.call_soon(self._flush, self._shared)
        stop = len(self._pending)
        return _part(self._shared, start, stop)

    def _flush(self, shared: asyncio.Future[Found]) -> None:
        ids, self._pending, self._shared = self._pending, [], None
        loop = asyncio.get_running_loop()
        unique = list(dict.fromkeys(ids))
        job = loop.run_in_executor(self._executor, self.lookup.lookup, unique)

        def settle(done: asyncio.Future[Found]) -> None:
            if shared.done():
                return
            if done.cancelled():  # the enricher was closed
                shared.cancel()
                return
            if (exc := done.exception()) is not None:
                shared.set_exception(exc)
                return
            result = done.result()
            if len(result) != len(unique):
                shared.set_exception(ValueError("the store answered a different number of rows"))
                return
            by_id = dict(zip(unique, result, strict=True))
            shared.set_result([by_id[i] for i in ids])

        job.add_done_callback(settle)

    def close(self) -> None:
        """Stop the lookup threads (a lookup still running is abandoned)."""
        self._executor.shutdown(wait=False, cancel_futures=True)


def _part(shared: asyncio.Future[Found], start: int, stop: int) -> asyncio.Future[Found]:
    """A future of ``shared[start:stop]`` that one caller may cancel (its timeout) alone."""
    loop = shared.get_loop()
    part: asyncio.Future[Found] = loop.create_future()

    def copy(done: asyncio.Future[Found]) -> None:
        if part.done():
            return
        if done.cancelled():
            part.cancel()
        elif (exc := done.exception()) is not None:
            part.set_exception(exc)
        else:
            part.set_result(done.result()[start:stop])

    shared.add_done_callback(copy)
    return part


def _fill(
    record: dict[str, Any], stored: StoredFeatures | None, outcome: LookupOutcome, now: datetime
) -> tuple[dict[str, Any], EnrichmentBody]:
    """One application completed with the stored values that pass their field's rule."""
    completed, taken = complete(record, stored)
    fields: dict[str, float] = {}
    rejected: list[str] = []
    for name, as_of in taken.items():
        try:
            completed[name] = _validator(name).validate_python(_integral(name, completed[name]))
        except ValidationError:
            if name in record:  # as the request had it (null)
                completed[name] = record[name]
            else:
                del completed[name]
            rejected.append(name)
            metrics.FEATURE_REJECTED.labels(name).inc()
            continue
        fields[name] = round((now - as_of).total_seconds(), 3)
    return completed, {"outcome": outcome, "fields": fields, "rejected": rejected}


def _integral(name: str, value: Any) -> Any:
    """A store's float holding a whole number, as an integer field's integer (3.0 -> 3)."""
    if (
        FIELDS_BY_NAME[name].kind is Kind.INTEGER
        and isinstance(value, float)
        and value.is_integer()
    ):
        return int(value)
    return value


@cache
def _validator(name: str) -> TypeAdapter[Any]:
    """The request model's rule for one field (type, range, categories)."""
    if name not in STORABLE_FIELDS:
        raise KeyError(name)
    info = LoanApplication.model_fields[name]
    annotated: Any = Annotated[info.annotation, info]  # the field's type with its constraints
    return TypeAdapter(annotated)
