"""Enrichment through the serving backend on the fixture model: what a keyed application scores
is what its completed application scores; a store that is down or stuck never fails a call."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loan_default.api import CallContext
from loan_default.enrichment import STORABLE_FIELDS, InMemoryLookup, StoredFeatures
from loan_default.traffic import Checkpoint, read_new
from runners.backend import ServingBackend
from runners.enrichment import Enricher
from runners.loading import load_serving_model
from runners.scorer import Scorer
from runners.settings import ServingSettings
from tests.runners.tiny_model import build, dev_guard, payloads

AS_OF = datetime.now(UTC) - timedelta(hours=6)
ROWS = 40


def aged(at: datetime) -> float:
    """The age of a value stored at ``AS_OF`` seen at ``at`` (the notes round to 1 ms)."""
    return round((at - AS_OF).total_seconds(), 3)


class Switchable:
    """A store whose contents, failure or stall a test sets (the backend keeps one enricher)."""

    def __init__(self) -> None:
        self.entries: dict[str, StoredFeatures] = {}
        self.fail: Exception | None = None
        self.stall: threading.Event | None = None

    def lookup(self, client_ids: Sequence[str]) -> list[StoredFeatures | None]:
        if self.stall is not None:
            self.stall.wait(10)
        if self.fail is not None:
            raise self.fail
        return InMemoryLookup(self.entries).lookup(client_ids)


@pytest.fixture(scope="module")
def world(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[ServingBackend, Switchable, list[dict[str, Any]]]]:
    tag, _, frame = build(version="venrich-test")
    home = tmp_path_factory.mktemp("home")
    serving = ServingSettings(model_tag=tag, home=home, pause_check_seconds=0)
    scorer = Scorer(load_serving_model(serving), serving)
    store = Switchable()
    enricher = Enricher(store, timeout=0.2)

    async def explain(apps: list[dict[str, Any]]) -> list[dict[str, Any]]:
        raise AssertionError("not called here")

    backend = ServingBackend(
        scorer, explain, max_batch_rows=100, guard=dev_guard(home), enricher=enricher
    )
    apps = [{k: v for k, v in app.items() if k != "client_id"} for app in payloads(frame)[:ROWS]]
    yield backend, store, apps
    enricher.close()
    scorer.close()


def predict(backend: ServingBackend, apps: list[dict[str, Any]]) -> list[Any]:
    return asyncio.run(backend.predict(apps, CallContext("predict_batch", "grpc")))


STORABLE = sorted(STORABLE_FIELDS)


@settings(
    max_examples=60,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    row=st.integers(0, ROWS - 1),
    donor=st.integers(0, ROWS - 1),
    dropped=st.sets(st.sampled_from(STORABLE), max_size=12),
    stored=st.sets(st.sampled_from(STORABLE), max_size=12),
)
def test_a_keyed_application_scores_as_its_completed_application(
    world: tuple[ServingBackend, Switchable, list[dict[str, Any]]],
    row: int,
    donor: int,
    dropped: set[str],
    stored: set[str],
) -> None:
    backend, store, apps = world
    request = {k: v for k, v in apps[row].items() if k not in dropped or k in ("age_days",
               "client_income", "credit_amount")}  # fmt: skip
    values = {k: apps[donor][k] for k in stored if apps[donor].get(k) is not None}
    store.entries = {"c1": StoredFeatures(values, dict.fromkeys(values, AS_OF))}
    completed = {**request, **{k: v for k, v in values.items() if request.get(k) is None}}
    filled = set(completed) - set(request)

    start = datetime.now(UTC)
    (keyed,) = predict(backend, [{**request, "client_id": "c1"}])
    end = datetime.now(UTC)
    (direct,) = predict(backend, [completed])
    assert keyed["default_probability"] == direct["default_probability"]
    assert keyed["enrichment"]["outcome"] == "hit"
    assert set(keyed["enrichment"]["fields"]) == filled
    ages = keyed["enrichment"]["fields"].values()
    assert all(aged(start) <= age <= aged(end) for age in ages)
    assert "enrichment" not in direct  # no client key: nothing looked up, nothing said


def test_the_traffic_log_holds_the_completed_application_and_its_enrichment(
    world: tuple[ServingBackend, Switchable, list[dict[str, Any]]],
) -> None:
    backend, store, apps = world
    request = {k: v for k, v in apps[0].items() if k != "score_source_2"}
    store.entries = {"c7": StoredFeatures({"score_source_2": 0.33}, {"score_source_2": AS_OF})}
    before, _ = read_new(backend.scorer.settings.traffic_path, "predictions", Checkpoint())
    keyed, unknown = predict(
        backend, [{**request, "client_id": "c7"}, {**request, "client_id": "x"}]
    )
    after, _ = read_new(backend.scorer.settings.traffic_path, "predictions", Checkpoint())
    lines = {line["prediction_id"]: line for line in after[len(before) :]}
    line = lines[keyed["prediction_id"]]
    assert line["application"]["score_source_2"] == 0.33
    assert line["enrichment"] == keyed["enrichment"]
    assert list(line["enrichment"]["fields"]) == ["score_source_2"]
    assert lines[unknown["prediction_id"]]["enrichment"]["outcome"] == "miss"
    assert lines[unknown["prediction_id"]]["application"].get("score_source_2") is None


def test_a_store_that_is_down_or_stuck_never_fails_a_call(
    world: tuple[ServingBackend, Switchable, list[dict[str, Any]]],
) -> None:
    backend, store, apps = world
    request = {k: v for k, v in apps[1].items() if k != "credit_bureau"}
    (sent,) = predict(backend, [request])
    store.fail = ConnectionError("redis: connection refused")
    try:
        (down,) = predict(backend, [{**request, "client_id": "c1"}])
    finally:
        store.fail = None
    store.stall = threading.Event()
    try:
        (stuck,) = predict(backend, [{**request, "client_id": "c1"}])
        assert not store.stall.is_set()  # answered while the store still hung
    finally:
        store.stall.set()
        store.stall = None
    assert (down["enrichment"]["outcome"], stuck["enrichment"]["outcome"]) == ("error", "timeout")
    for answer in (down, stuck):
        assert answer["default_probability"] == sent["default_probability"]
        assert answer["enrichment"]["fields"] == {}


def test_an_out_of_range_stored_value_is_left_out_not_a_failure(
    world: tuple[ServingBackend, Switchable, list[dict[str, Any]]],
) -> None:
    backend, store, apps = world
    request = {k: v for k, v in apps[2].items() if k not in ("score_source_1", "credit_bureau")}
    values = {"score_source_1": 7.5, "credit_bureau": 1}
    store.entries = {"c1": StoredFeatures(values, dict.fromkeys(values, AS_OF))}
    (keyed,) = predict(backend, [{**request, "client_id": "c1"}])
    (direct,) = predict(backend, [{**request, "credit_bureau": 1}])
    assert keyed["default_probability"] == direct["default_probability"]
    assert keyed["enrichment"]["rejected"] == ["score_source_1"]
    assert list(keyed["enrichment"]["fields"]) == ["credit_bureau"]
