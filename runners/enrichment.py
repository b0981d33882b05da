"""Enrichment at scoring time: fields an application leaves out, filled from a feature store.

When an application carries a client key (``client_id``), the serving backend asks the
configured :class:`~loan_default.enrichment.FeatureLookup` for the client's stored fields and
fills the ones the request leaves out (absent or null; the request's own values win,
:func:`loan_default.enrichment.complete`). Each prediction then says what was filled and how old
it was (its ``enrichment`` field, also in the traffic log).

A store must never make scoring fail or stall:

* the lookup runs in a small thread pool of its own (a network store blocks; the event loop
  keeps serving), and the lookups of one event-loop turn share one call (as the scoring does,
  ``runners.batching``), so a busy worker pays one thread hop per turn, not per request; a
  store that declares it never blocks (``blocking = False``: the in-memory store) is read on
  the loop;
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
from collections.abc import Callable
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


Waiter = tuple[int, int, "asyncio.Future[Found]"]
"""One call's slice (start, stop) of a turn's client ids, and the future it awaits."""


class Enricher:
    """Fills applications from a feature store, bounded by a timeout (see the module doc).

    The calls of one event-loop turn share one store call and one timer: each call awaits a
    future of its own (so a caller that goes away cancels nothing but its own wait), settled
    with its slice of the answer, or with ``TimeoutError`` when the timer fires first.

    Args:
        lookup: the store.
        timeout: the longest the calls of a turn wait for the store, in seconds.
        threads: the lookup threads (a store that hangs holds at most these).
    """

    def __init__(self, lookup: FeatureLookup, *, timeout: float, threads: int = 2) -> None:
        self.lookup = lookup
        self.timeout = timeout
        self.blocking = bool(getattr(lookup, "blocking", True))
        self._executor = ThreadPoolExecutor(threads, thread_name_prefix="feature-lookup")
        self._ids: list[str] = []
        self._waiters: list[Waiter] = []
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
            found = await self._in_turn([str(records[i][CLIENT_KEY]) for i in keyed])
        except TimeoutError:
            failure = "timeout"
        except Exception:  # the store's own failure, whatever its type: scoring goes on
            log.warning("feature lookup failed; scoring without the store", exc_info=True)
        completed = list(records)
        notes: list[EnrichmentBody | None] = [None] * len(records)
        outcomes: dict[LookupOutcome, int] = {}
        now = utcnow()
        for n, i in enumerate(keyed):
            stored = found[n] if found is not None else None
            outcome: LookupOutcome = (
                failure if found is None else "hit" if stored is not None else "miss"
            )
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
            completed[i], notes[i] = _fill(records[i], stored, outcome, now)
        for outcome, count in outcomes.items():
            self._counters[outcome].inc(count)
        return completed, notes

    def _in_turn(self, client_ids: list[str]) -> asyncio.Future[Found]:
        """This call's answer from the turn's one store call (made at the end of the turn)."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[Found] = loop.create_future()
        start = len(self._ids)
        self._ids.extend(client_ids)
        self._waiters.append((start, len(self._ids), waiter))
        if len(self._waiters) == 1:
            loop.call_soon(self._flush)
        return waiter

    def _flush(self) -> None:
        ids, waiters = self._ids, self._waiters
        self._ids, self._waiters = [], []
        loop = asyncio.get_running_loop()
        unique = list(dict.fromkeys(ids))

        def answer(result: list[StoredFeatures | None] | BaseException) -> None:
            if isinstance(result, BaseException):
                _settle(waiters, result)
            elif len(result) != len(unique):
                _settle(waiters, ValueError("the store answered a different number of rows"))
            else:
                by_id = dict(zip(unique, result, strict=True))
                _settle(waiters, [by_id[client] for client in ids])

        if not self.blocking:  # a dict read: on the loop, no thread, no timer
            try:
                answer(self.lookup.lookup(unique))
            except Exception as exc:
                answer(exc)
            return
        job = loop.run_in_executor(self._executor, self.lookup.lookup, unique)
        timer = loop.call_later(self.timeout, _settle, waiters, TimeoutError())

        def done(job: asyncio.Future[list[StoredFeatures | None]]) -> None:
            timer.cancel()
            if job.cancelled():  # the enricher was closed
                answer(ConnectionAbortedError("the feature lookup was abandoned"))
            else:
                answer(job.exception() or job.result())

        job.add_done_callback(done)

    def close(self) -> None:
        """Stop the lookup threads (a lookup still running is abandoned)."""
        self._executor.shutdown(wait=False, cancel_futures=True)


def _settle(waiters: list[Waiter], outcome: Found | BaseException) -> None:
    """Each waiter still waiting gets its slice of the answer, or the failure."""
    for start, stop, waiter in waiters:
        if waiter.done():  # timed out already, or its caller went away
            continue
        if isinstance(outcome, BaseException):
            waiter.set_exception(outcome)
        else:
            waiter.set_result(outcome[start:stop])


def _fill(
    record: dict[str, Any], stored: StoredFeatures | None, outcome: LookupOutcome, now: datetime
) -> tuple[dict[str, Any], EnrichmentBody]:
    """One application completed with the stored values that pass their field's rule."""
    completed, taken = complete(record, stored)
    fields: dict[str, float] = {}
    rejected: list[str] = []
    for name, as_of in taken.items():
        try:
            completed[name] = _check(name, completed[name])
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


def _check(name: str, value: Any) -> Any:
    """The stored value as the request model would take it (a store's float holding a whole
    number counts as an integer field's integer: 3.0 -> 3).

    Raises:
        ValidationError: the value breaks the field's rule.
    """
    validate, integer = _rule(name)
    if integer and isinstance(value, float) and value.is_integer():
        value = int(value)
    return validate(value)


@cache
def _rule(name: str) -> tuple[Callable[[Any], Any], bool]:
    """The request model's rule for one field (type, range, categories), and whether the field
    holds integers."""
    if name not in STORABLE_FIELDS:
        raise KeyError(name)
    info = LoanApplication.model_fields[name]
    annotated: Any = Annotated[info.annotation, info]  # the field's type with its constraints
    return TypeAdapter(annotated).validate_python, FIELDS_BY_NAME[name].kind is Kind.INTEGER
