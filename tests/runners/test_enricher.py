"""The enricher alone (no model): fill rules, outcomes, the timeout, a failing store, the
stored values' validation, and the ``LOAN_FEATURE_STORE`` specs."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY

from loan_default.enrichment import FeatureLookup, InMemoryLookup, StoredFeatures
from loan_default.errors import ConfigError
from runners.enrichment import Enricher, feature_lookup

AS_OF = datetime.now(UTC) - timedelta(days=2)
BUREAU = {"score_source_1": 0.61, "credit_bureau": 2, "social_circle_default": 0.1}


def stored(**values: Any) -> StoredFeatures:
    return StoredFeatures(values, dict.fromkeys(values, AS_OF))


def aged(at: datetime) -> float:
    """The age of a value stored at ``AS_OF`` seen at ``at`` (the notes round to 1 ms)."""
    return round((at - AS_OF).total_seconds(), 3)


def lookups(outcome: str) -> float:
    return REGISTRY.get_sample_value("loan_feature_lookups_total", {"outcome": outcome}) or 0.0


class Recording:
    """A store that records each call (to see the calls of one loop turn coalesce)."""

    def __init__(self, entries: dict[str, StoredFeatures]) -> None:
        self.inner = InMemoryLookup(entries)
        self.calls: list[list[str]] = []

    def lookup(self, client_ids: Sequence[str]) -> list[StoredFeatures | None]:
        self.calls.append(list(client_ids))
        return self.inner.lookup(client_ids)


class Down:
    def lookup(self, client_ids: Sequence[str]) -> list[StoredFeatures | None]:
        raise ConnectionError("redis: connection refused")


class Stuck:
    """A store that answers only when released (after the caller has given up on it)."""

    def __init__(self) -> None:
        self.release = threading.Event()

    def lookup(self, client_ids: Sequence[str]) -> list[StoredFeatures | None]:
        self.release.wait(10)
        return [stored(**BUREAU) for _ in client_ids]


def run(enricher: Enricher, *calls: list[dict[str, Any]]) -> list[Any]:
    async def main() -> list[Any]:
        return list(await asyncio.gather(*(enricher.enrich(records) for records in calls)))

    try:
        return asyncio.run(main())
    finally:
        enricher.close()


def test_fills_only_missing_fields_and_says_which_and_how_old() -> None:
    store = Recording({"c1": stored(**BUREAU)})
    records: list[dict[str, Any]] = [
        {"client_id": "c1", "score_source_1": 0.2, "credit_bureau": None},
        {"client_id": "c9"},
        {"age_days": 9000.0},
    ]
    hits, misses = lookups("hit"), lookups("miss")
    start = datetime.now(UTC)
    ((completed, notes),) = run(Enricher(store, timeout=5), records)
    end = datetime.now(UTC)
    assert completed[0] == {
        "client_id": "c1", "score_source_1": 0.2, "credit_bureau": 2, "social_circle_default": 0.1
    }  # fmt: skip
    assert completed[1:] == records[1:]
    assert notes[0]["outcome"] == "hit" and notes[0]["rejected"] == []
    assert set(notes[0]["fields"]) == {"credit_bureau", "social_circle_default"}
    assert all(aged(start) <= age <= aged(end) for age in notes[0]["fields"].values())
    assert notes[1] == {"outcome": "miss", "fields": {}, "rejected": []}
    assert notes[2] is None  # no client key: not looked up
    assert (lookups("hit") - hits, lookups("miss") - misses) == (1, 1)
    assert records[0]["credit_bureau"] is None  # the caller's dicts are not modified


def test_applications_without_a_client_key_never_reach_the_store() -> None:
    store = Recording({})
    records: list[dict[str, Any]] = [{"age_days": 9000.0}, {"client_id": None}]
    ((completed, notes),) = run(Enricher(store, timeout=5), records)
    assert completed is records and notes is None and store.calls == []


def test_the_calls_of_one_loop_turn_share_one_lookup() -> None:
    store = Recording({"c1": stored(**BUREAU), "c2": stored(score_source_1=0.3)})
    answers = run(
        Enricher(store, timeout=5),
        [{"client_id": "c1"}, {"client_id": "c2"}],
        [{"client_id": "c1"}],
        [{"client_id": "c3"}],
    )
    assert store.calls == [["c1", "c2", "c3"]]  # one call, each client once
    outcomes = [[note["outcome"] for note in notes] for _, notes in answers]
    assert outcomes == [["hit", "hit"], ["hit"], ["miss"]]
    assert answers[1][0][0]["credit_bureau"] == 2
    assert answers[0][0][1]["score_source_1"] == 0.3


def test_a_store_that_is_down_leaves_the_applications_as_sent() -> None:
    records = [{"client_id": "c1", "score_source_1": 0.2}]
    errors = lookups("error")
    ((completed, notes),) = run(Enricher(Down(), timeout=5), records)
    assert completed == records
    assert notes == [{"outcome": "error", "fields": {}, "rejected": []}]
    assert lookups("error") - errors == 1


def test_a_slow_store_is_given_up_on_without_blocking_the_loop() -> None:
    store = Stuck()
    enricher = Enricher(store, timeout=0.05)
    timeouts = lookups("timeout")
    ticks = 0

    async def main() -> tuple[Any, int]:
        nonlocal ticks

        async def tick() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0)

        ticker = asyncio.create_task(tick())
        answer = await enricher.enrich([{"client_id": "c1"}, {"client_id": "c2"}])
        ticker.cancel()
        return answer, ticks

    try:
        (completed, notes), seen = asyncio.run(main())
        assert not store.release.is_set()  # answered while the store was still stuck
    finally:
        store.release.set()
        enricher.close()
    assert completed == [{"client_id": "c1"}, {"client_id": "c2"}]
    assert [n["outcome"] for n in notes] == ["timeout", "timeout"]
    assert lookups("timeout") - timeouts == 2
    assert seen > 1  # the loop served other tasks while the lookup waited


def test_stored_values_that_break_their_rule_are_not_used() -> None:
    bad = stored(score_source_1=1.7, credit_bureau=3.0, client_education="phd")
    rejected = REGISTRY.get_sample_value(
        "loan_feature_rejected_values_total", {"field": "score_source_1"}
    ) or 0.0  # fmt: skip
    ((completed, notes),) = run(Enricher(InMemoryLookup({"c1": bad}), timeout=5), [
        {"client_id": "c1", "client_education": None}
    ])  # fmt: skip
    assert completed[0] == {"client_id": "c1", "client_education": None, "credit_bureau": 3}
    assert type(completed[0]["credit_bureau"]) is int  # 3.0 from a store is the integer 3
    assert notes[0]["rejected"] == ["score_source_1", "client_education"]
    assert list(notes[0]["fields"]) == ["credit_bureau"]
    after = REGISTRY.get_sample_value(
        "loan_feature_rejected_values_total", {"field": "score_source_1"}
    )  # fmt: skip
    assert after == rejected + 1


def test_a_store_answering_the_wrong_number_of_rows_is_an_error() -> None:
    class Short:
        def lookup(self, client_ids: Sequence[str]) -> list[StoredFeatures | None]:
            return []

    ((completed, notes),) = run(Enricher(Short(), timeout=5), [{"client_id": "c1"}])
    assert notes[0]["outcome"] == "error" and completed == [{"client_id": "c1"}]


def make_lookup(repository: Path) -> FeatureLookup:
    """A factory as ``LOAN_FEATURE_STORE_FEAST_FACTORY`` names it (here: not Feast)."""
    return InMemoryLookup({repository.name: stored(**BUREAU)})


def test_feature_store_specs(tmp_path: Path) -> None:
    factory = "tests.runners.test_enricher:make_lookup"
    assert feature_lookup("none", feast_factory=factory) is None
    rows = tmp_path / "bureau.jsonl"
    rows.write_text('{"client_id": "c1", "event_timestamp": "2026-11-01T00:00:00+00:00", '
                    '"credit_bureau": 4}\n')  # fmt: skip
    memory = feature_lookup(f"memory:{rows}", feast_factory=factory)
    assert memory is not None and memory.lookup(["c1"])[0].values == {"credit_bureau": 4}  # type: ignore[union-attr]
    feast = feature_lookup(f"feast:{tmp_path / 'repo1'}", feast_factory=factory)
    assert feast is not None and feast.lookup(["repo1"])[0] is not None
    with pytest.raises(ConfigError, match="expected none, memory:<file> or feast:<repository>"):
        feature_lookup("redis://x", feast_factory=factory)
    with pytest.raises(ConfigError, match="LOAN_FEATURE_STORE_FEAST_FACTORY"):
        feature_lookup("feast:repo", feast_factory="no_such_module:Lookup")
    with pytest.raises(ConfigError, match=r"missing\.csv"):
        feature_lookup(f"memory:{tmp_path / 'missing.csv'}", feast_factory=factory)


def test_a_store_that_never_blocks_is_read_on_the_loop_and_others_in_a_thread() -> None:
    threads: list[str] = []

    class Memory(InMemoryLookup):
        def lookup(self, client_ids: Sequence[str]) -> list[StoredFeatures | None]:
            threads.append(threading.current_thread().name)
            return super().lookup(client_ids)

    class Blocking(Memory):
        blocking = True

    for store in (Memory({"c1": stored(**BUREAU)}), Blocking({"c1": stored(**BUREAU)})):
        ((_, notes),) = run(Enricher(store, timeout=5), [{"client_id": "c1"}])
        assert notes is not None and notes[0]["outcome"] == "hit"
    assert threads[0] == threading.current_thread().name
    assert threads[1].startswith("feature-lookup")
