"""A real ``bentoml serve`` completing applications from a feature store, over REST and gRPC:
the in-memory store of a file (``LOAN_FEATURE_STORE=memory:<file>``), and a store that is down
or hangs (``tests.integration.stores``), which never fails a call."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from loan_default.data.generate import generate_applications
from loan_default.grpc.client import LoanScoringClient
from loan_default.traffic import Checkpoint, read_new
from runners.settings import ServingSettings
from tests.integration.serving import bentoml_serve, free_port
from tests.runners.grpc.grpc_backend import to_requests
from tests.runners.tiny_model import build

pytestmark = pytest.mark.slow

BUREAU = ("score_source_1", "score_source_2", "score_source_3", "social_circle_default",
          "credit_bureau")  # fmt: skip
AS_OF = datetime.now(UTC) - timedelta(days=3)


def aged(at: datetime) -> float:
    """The age of a value stored at ``AS_OF`` seen at ``at``."""
    return (at - AS_OF).total_seconds()


@pytest.fixture(scope="module")
def applications() -> list[dict[str, Any]]:
    """Applications without their bureau fields (and without a client key)."""
    apps = to_requests(generate_applications(20, seed=31))
    return [{k: v for k, v in app.items() if k not in (*BUREAU, "client_id")} for app in apps]


@pytest.fixture(scope="module")
def stored() -> list[dict[str, Any]]:
    """The bureau fields of client ``CLI-<i>``."""
    apps = to_requests(generate_applications(20, seed=31))
    return [{k: app[k] for k in BUREAU if app.get(k) is not None} for app in apps]


@pytest.fixture(scope="module")
def store_file(stored: list[dict[str, Any]], tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("store") / "bureau.jsonl"
    rows = [
        {"client_id": f"CLI-{i}", "event_timestamp": AS_OF.isoformat(), **values}
        for i, values in enumerate(stored)
    ]
    path.write_bytes(b"\n".join(orjson.dumps(row) for row in rows))
    return path


@pytest.fixture(scope="module")
def model_tag() -> str:
    tag, _, _ = build(version="venrich-serve")
    return tag


class Server:
    """One running server: REST base URL and a connected gRPC client."""

    def __init__(self, base: str, client: LoanScoringClient) -> None:
        self.base, self.grpc = base, client

    def rest(self, path: str, body: Any) -> dict[str, Any]:
        answer = httpx.post(f"{self.base}/v1/{path}", json=body, timeout=60)
        assert answer.status_code == 200, answer.text
        result: dict[str, Any] = answer.json()
        return result

    def metric(self, outcome: str) -> float:
        text = httpx.get(f"{self.base}/metrics", timeout=30).text
        line = f'loan_feature_lookups_total{{outcome="{outcome}"}} '
        return sum(float(row.split()[-1]) for row in text.splitlines() if row.startswith(line))


def _serve(tag: str, log: Path, env: dict[str, str]) -> Iterator[Server]:
    http_port, grpc_port = free_port(), free_port()
    with (
        bentoml_serve(tag, http_port=http_port, grpc_port=grpc_port, log=log, env=env),
        LoanScoringClient(f"127.0.0.1:{grpc_port}", timeout=60) as client,
    ):
        client.wait_ready(timeout=30)
        yield Server(f"http://127.0.0.1:{http_port}", client)


@pytest.fixture(scope="module")
def memory(
    model_tag: str, store_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    log = tmp_path_factory.mktemp("serve-memory") / "bentoml.log"
    yield from _serve(model_tag, log, {"LOAN_FEATURE_STORE": f"memory:{store_file}"})


@pytest.fixture(scope="module")
def faulty(
    model_tag: str, store_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    log = tmp_path_factory.mktemp("serve-faulty") / "bentoml.log"
    env = {
        "LOAN_FEATURE_STORE": f"feast:{store_file}",
        "LOAN_FEATURE_STORE_FEAST_FACTORY": "tests.integration.stores:FaultyStore",
        "LOAN_FEATURE_LOOKUP_TIMEOUT": "0.3",
    }
    yield from _serve(model_tag, log, env)


def test_rest_and_grpc_fill_the_bureau_fields_from_the_store(
    memory: Server, applications: list[dict[str, Any]], stored: list[dict[str, Any]]
) -> None:
    hits = memory.metric("hit")
    for i in range(3):
        keyed = {**applications[i], "client_id": f"CLI-{i}"}
        completed = memory.rest("predict", {**applications[i], **stored[i]})
        start = datetime.now(UTC)
        rest, grpc = memory.rest("predict", keyed), memory.grpc.predict(keyed)
        end = datetime.now(UTC)
        for answer in (rest, grpc):
            assert answer["default_probability"] == completed["default_probability"]
            assert answer["enrichment"]["outcome"] == "hit"
            assert set(answer["enrichment"]["fields"]) == set(stored[i])
            ages = answer["enrichment"]["fields"].values()
            assert all(aged(start) - 1 <= age <= aged(end) + 1 for age in ages)  # server clock
        assert "enrichment" not in completed  # no client key: nothing looked up
    assert memory.metric("hit") - hits == 6


def test_unknown_clients_and_batches_over_both_transports(
    memory: Server, applications: list[dict[str, Any]], stored: list[dict[str, Any]]
) -> None:
    batch = [{**applications[3], "client_id": "CLI-3"}, {**applications[4], "client_id": "NEW"},
             applications[5]]  # fmt: skip
    rest = memory.rest("predict_batch", {"applications": batch})["predictions"]
    grpc = memory.grpc.predict_batch(batch)
    for answers in (rest, grpc):
        assert answers[0]["enrichment"]["outcome"] == "hit"
        assert answers[1]["enrichment"] == {"outcome": "miss", "fields": {}, "rejected": []}
        assert "enrichment" not in answers[2]
    assert [a["default_probability"] for a in rest] == [a["default_probability"] for a in grpc]
    explained = memory.rest("explain", batch[0])
    assert explained["enrichment"]["fields"].keys() == set(stored[3])
    # The traffic log keeps the completed application with the note.
    lines, _ = read_new(ServingSettings().traffic_path, "predictions", Checkpoint())
    by_id = {line["prediction_id"]: line for line in lines}
    line = by_id[rest[0]["prediction_id"]]
    assert {k: line["application"][k] for k in stored[3]} == stored[3]
    assert line["enrichment"]["outcome"] == "hit"


def test_a_store_that_is_down_or_hangs_never_fails_a_call(
    faulty: Server, applications: list[dict[str, Any]]
) -> None:
    found = faulty.rest("predict", {**applications[7], "client_id": "CLI-7"})
    assert found["enrichment"]["outcome"] == "hit"  # the factory's store answers otherwise
    plain = faulty.rest("predict", applications[6])
    errors, timeouts = faulty.metric("error"), faulty.metric("timeout")
    for client, outcome in (("DOWN-1", "error"), ("SLOW-1", "timeout")):
        keyed = {**applications[6], "client_id": client}
        for answer in (faulty.rest("predict", keyed), faulty.grpc.predict(keyed)):
            assert answer["enrichment"] == {"outcome": outcome, "fields": {}, "rejected": []}
            assert answer["default_probability"] == plain["default_probability"]
    assert faulty.metric("error") - errors == 2
    assert faulty.metric("timeout") - timeouts == 2
