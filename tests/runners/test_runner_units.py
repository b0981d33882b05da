"""Units of the serving runners: reasons, prediction index, pause gate, settings, loading."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from loan_default import control
from loan_default.derived import DERIVED, INTERACTIONS
from loan_default.errors import ConfigError, UnavailableError
from loan_default.model import RiskThresholds
from loan_default.reasons import reason_codes, validate_reason_codes
from loan_default.schema import FEATURE_FIELDS
from runners.ledger import PauseGate, PredictionIndex, new_prediction_ids
from runners.routing import ConnectionRecycler, DirectRoutes
from runners.settings import ServingSettings

MODEL_FEATURES = [f.name for f in FEATURE_FIELDS] + [d.name for d in (*DERIVED, *INTERACTIONS)]


def test_every_model_feature_has_an_adverse_action_reason() -> None:
    codes = reason_codes(ServingSettings().reasons_path)
    assert validate_reason_codes(MODEL_FEATURES, codes) == []
    for code in codes.codes.values():
        assert len(code.reason) < 100 and len(code.missing) < 100


def test_reason_codes_refuse_a_malformed_table(tmp_path: Path) -> None:
    path = tmp_path / "reasons.yaml"
    path.write_text("reasons:\n  client_income: {reason: Low income, missing: No income}\n")
    problems = validate_reason_codes(["client_income", "debt_to_income"], reason_codes(path))
    assert problems == [
        f"field 'loan_annuity' (scored through debt_to_income) has no reason code in {path}"
    ]
    path.write_text("reasons:\n  client_income: {reason: Income insufficient}\n")
    with pytest.raises(ConfigError, match=r"client_income\.missing"):
        reason_codes(path)
    path.write_text("- not a mapping\n")
    with pytest.raises(ConfigError, match=str(path)):
        reason_codes(path)


def test_every_worker_finds_every_workers_ids(tmp_path: Path) -> None:
    first, second = PredictionIndex(tmp_path, "w1"), PredictionIndex(tmp_path, "w2")
    first.add(["p1", "p2"], model_version="v1")
    second.add(["p3"], model_version="v2")
    assert second.lookup("p2") == "v1"
    assert first.lookup("p3") == "v2"
    assert first.lookup("p4") is None
    first.close()
    second.close()


def test_the_index_wal_is_checkpointed_by_its_thread_not_by_the_calls(tmp_path: Path) -> None:
    index = PredictionIndex(tmp_path, "w1", checkpoint_seconds=0.05)
    assert index._db.execute("PRAGMA wal_autocheckpoint").fetchone() == (0,)
    empty = index.path.stat().st_size
    for n in range(300):
        index.add([f"p{n}"], model_version="v1")
    deadline = time.monotonic() + 30
    while index.path.stat().st_size == empty and time.monotonic() < deadline:
        time.sleep(0.05)
    assert index.path.stat().st_size > empty  # the rows reached the database file
    index.close()
    reopened = PredictionIndex(tmp_path, "w2")
    assert reopened.lookup("p299") == "v1"
    reopened.close()


def test_prediction_ids_are_unique_time_ordered_version_7_uuids() -> None:
    before = time.time_ns() // 1_000_000
    ids = new_prediction_ids(1000) + new_prediction_ids(1)
    after = time.time_ns() // 1_000_000
    parsed = [uuid.UUID(pid) for pid in ids]
    assert len(set(ids)) == len(ids)
    assert [str(u) for u in parsed] == ids  # canonical text
    assert {u.version for u in parsed} == {7}
    assert {u.variant for u in parsed} == {uuid.RFC_4122}
    assert all(before <= u.int >> 80 <= after for u in parsed)  # the issue millisecond
    assert parsed[-1].int >> 80 >= parsed[0].int >> 80


def test_pause_gate_rereads_after_its_ttl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from runners import ledger

    now = [1000.0]
    monkeypatch.setattr(ledger.time, "monotonic", lambda: now[0])
    gate = PauseGate(tmp_path, ttl=1.0)
    assert gate.current() is None
    control.pause(tmp_path, "drift", by="monitoring")  # also audited: not instantaneous
    now[0] += 0.5
    assert gate.current() is None  # cached
    now[0] += 0.6
    state = gate.current()
    assert state is not None and state.reason == "drift"
    control.resume(tmp_path)


def test_threshold_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOAN_RISK_MEDIUM", "0.2")
    settings = ServingSettings()
    assert settings.thresholds(RiskThresholds(0.3, 0.7)) == RiskThresholds(0.2, 0.7)
    monkeypatch.setenv("LOAN_RISK_HIGH", "0.1")
    with pytest.raises(ConfigError, match="LOAN_RISK"):
        ServingSettings()


def test_no_model_is_a_clear_startup_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from runners import loading

    monkeypatch.delenv("LOAN_MODEL_TAG", raising=False)
    monkeypatch.setattr(loading, "champion_tag", lambda settings=None: None)
    with pytest.raises(UnavailableError, match="champion"):
        loading.resolve_model_tag(ServingSettings(environment="production"))
    monkeypatch.setenv("LOAN_MODEL_TAG", "loan_default:vnone")
    with pytest.raises(UnavailableError, match="loan_default:vnone"):
        loading.load_serving_model(ServingSettings())


class _FlakyExplainer:
    """Stands in for ``bentoml.depends(Explainer)``: fails ``failures`` times, then answers."""

    def __init__(self, failures: list[Exception]) -> None:
        self.failures = failures
        self.calls = 0
        self.to_async = self

    async def explain(self, applications: list[dict]) -> list[dict]:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return [{"reasons": []} for _ in applications]


def test_explainer_call_retries_once_on_a_dropped_connection() -> None:
    import asyncio

    import aiohttp
    import bentoml

    from runners.explainer import explain_remotely

    flaky = _FlakyExplainer([aiohttp.ServerDisconnectedError()])
    assert asyncio.run(explain_remotely(flaky, [{}])) == [{"reasons": []}]
    assert flaky.calls == 2
    down = _FlakyExplainer([aiohttp.ServerDisconnectedError(), aiohttp.ServerDisconnectedError()])
    with pytest.raises(UnavailableError, match="explainer worker is unavailable"):
        asyncio.run(explain_remotely(down, [{}]))
    broken = _FlakyExplainer([bentoml.exceptions.BentoMLException("503 overloaded")])
    with pytest.raises(UnavailableError, match="overloaded"):
        asyncio.run(explain_remotely(broken, [{}]))
    assert broken.calls == 1


def test_bulk_observations_export_exactly_like_one_by_one() -> None:
    from prometheus_client import CollectorRegistry, Histogram, generate_latest

    from runners.metrics import observe_many

    values = [0.0, 0.02, 0.0200001, 0.3, 0.7, 0.999, 1.0, 1.5, 0.05, 0.05, *np.linspace(0, 1, 91)]
    exported = []
    for bulk in (False, True):
        registry = CollectorRegistry()
        histogram = Histogram("p", "p", buckets=(0.02, 0.05, 0.3, 0.7, 1.0), registry=registry)
        if bulk:
            observe_many(histogram, values)
        else:
            for v in values:
                histogram.observe(v)
        exported.append(
            b"\n".join(
                line for line in generate_latest(registry).splitlines() if b"created" not in line
            )
        )
    assert exported[0] == exported[1]
    assert b'p_bucket{le="0.02"} 4.0' in exported[1]  # 0.0, 0.02, linspace's 0.0 and 0.011


def test_connection_recycler_closes_in_proportion_to_applications() -> None:
    never = ConnectionRecycler(0, seed=1)
    assert all(never.headers(10_000) == {} for _ in range(100))
    recycler = ConnectionRecycler(100, seed=1)
    assert all(recycler.headers(100) == {"Connection": "close"} for _ in range(100))
    closes = sum(bool(recycler.headers(1)) for _ in range(20_000))
    assert 140 <= closes <= 260  # ~1 in 100 single calls


def test_direct_routes_serve_the_api_routes_and_pass_the_rest_on() -> None:
    import asyncio

    seen: list[str] = []

    async def api(scope: Any, receive: Any, send: Any) -> None:
        seen.append("api " + scope["path"])

    async def chain(scope: Any, receive: Any, send: Any) -> None:
        seen.append("chain " + scope["path"])

    async def nothing(*_: Any) -> Any:
        return None

    routes = {("POST", "/v1/predict")}
    calls = (("POST", "/v1/predict"), ("GET", "/v1/predict"), ("GET", "/livez"))
    for active in (True, False):
        front = DirectRoutes(chain, api=api, routes=routes, active=active)
        for method, path in calls:
            asyncio.run(front({"type": "http", "method": method, "path": path}, nothing, nothing))
    in_front = ["api /v1/predict", "chain /v1/predict", "chain /livez"]
    assert seen == [*in_front, "chain /v1/predict", "chain /v1/predict", "chain /livez"]


def test_the_api_routes_step_behind_the_chain_when_it_does_something_they_need() -> None:
    """runners.routing.chain_needs: BentoML's timeout, tracing (no exporter) and context
    middleware and our edge may be passed; CORS or a concurrency limit may not."""
    from bentoml._internal.server.http.traffic import MaxConcurrencyMiddleware, TimeoutMiddleware
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.middleware.cors import CORSMiddleware

    from runners.edge import BearerAuth
    from runners.routing import chain_needs

    passable = [Middleware(TimeoutMiddleware, timeout=60), Middleware(BearerAuth)]
    assert chain_needs(Starlette(middleware=passable)) == []
    more = [Middleware(CORSMiddleware, allow_origins=["*"]),
            Middleware(MaxConcurrencyMiddleware, max_concurrency=4)]  # fmt: skip
    assert chain_needs(Starlette(middleware=passable + more)) == [
        "CORSMiddleware", "MaxConcurrencyMiddleware"
    ]  # fmt: skip


def test_the_watcher_switches_only_to_a_checked_champion(monkeypatch: pytest.MonkeyPatch) -> None:
    """runners.reloader: a moved champion is loaded, canary-checked and swapped in; a model
    that cannot score is refused and the old one serves on; a pinned tag is never watched."""
    import asyncio

    from loan_default.errors import LoanError
    from runners import reloader
    from tests.runners.tiny_model import build

    old_tag, _, _ = build(version="vwatch-old")
    new_tag, _, _ = build(version="vwatch-new")
    old = reloader.load_serving_model(ServingSettings(model_tag=old_tag))
    served = [old]

    def swap(loaded):
        served.append(loaded)
        return served[-2].metadata.version

    unpinned = ServingSettings(model_tag=None)  # whatever LOAN_MODEL_TAG another test set
    watcher = reloader.ModelWatcher(unpinned, lambda: served[-1], swap, worker="test")
    assert (
        watcher.enabled
        and not reloader.ModelWatcher(
            ServingSettings(model_tag=old_tag), lambda: old, swap, worker="test"
        ).enabled
    )
    monkeypatch.setattr(reloader, "champion_tag", lambda settings: old_tag)
    assert asyncio.run(watcher.check_once()) is None  # unchanged: nothing loaded
    monkeypatch.setattr(reloader, "champion_tag", lambda settings: new_tag)

    def broken(loaded):
        raise LoanError("no probability")

    with monkeypatch.context() as patch:
        patch.setattr(reloader, "canary", broken)
        assert asyncio.run(watcher.check_once()) is None and len(served) == 1
    assert asyncio.run(watcher.check_once()) == "vwatch-new"
    assert [m.metadata.version for m in served] == ["vwatch-old", "vwatch-new"]


def test_grpc_authenticates_only_while_tokens_are_on(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from runners.edge import GrpcAuth, grpc_interceptors
    from tests.runners.tiny_model import dev_guard

    assert grpc_interceptors(dev_guard(tmp_path)) == []  # off: the backend's anonymous caller
    tokens_on: Any = SimpleNamespace(verifier=object())
    assert [type(i) for i in grpc_interceptors(tokens_on)] == [GrpcAuth]
