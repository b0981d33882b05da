"""The scorer, the explainer core and the gRPC backend protocol on the fixture model."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from loan_default.api import CallContext
from loan_default.errors import NotFoundError, RequestRejectedError, UnavailableError
from loan_default.reasons import reason_codes
from loan_default.store import load_model
from loan_default.traffic import Checkpoint, read_new
from runners.backend import ServingBackend
from runners.explainer import ExplainerCore
from runners.loading import load_serving_model
from runners.scorer import Scorer
from runners.settings import ServingSettings
from tests.runners.tiny_model import build, dev_guard, payloads


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Scorer, ExplainerCore, Any]:
    tag, _, frame = build(version="vrunner-test")
    home = tmp_path_factory.mktemp("home")
    settings = ServingSettings(model_tag=tag, home=home, pause_check_seconds=0)
    scorer = Scorer(load_serving_model(settings), settings)
    explainer = ExplainerCore(load_model(tag), reason_codes(settings.reasons_path))
    return scorer, explainer, frame.drop(columns=["default"])


def test_serving_model_uses_one_thread(setup: tuple[Scorer, ExplainerCore, Any]) -> None:
    scorer, _, _ = setup
    assert scorer.model.num_threads == 1


def test_score_logs_every_prediction_before_returning(
    setup: tuple[Scorer, ExplainerCore, Any],
) -> None:
    scorer, _, frame = setup
    apps = payloads(frame.iloc[:20])
    results = scorer.score(apps, endpoint="predict_batch", request_id="r1")
    records, _ = read_new(scorer.settings.traffic_path, "predictions", Checkpoint())
    by_id = {r["prediction_id"]: r for r in records}
    for result, app in zip(results, apps, strict=True):
        record = by_id[result["prediction_id"]]
        assert record["default_probability"] == result["default_probability"]
        assert record["application"] == app
    np.testing.assert_allclose(
        [r["default_probability"] for r in results], scorer.model.predict_proba(frame.iloc[:20])
    )


def test_feedback_needs_an_issued_id(setup: tuple[Scorer, ExplainerCore, Any]) -> None:
    scorer, _, frame = setup
    (result,) = scorer.score(payloads(frame.iloc[:1]), endpoint="predict")
    receipt = scorer.feedback(result["prediction_id"], 0)
    assert receipt["model_version"] == "vrunner-test"
    with pytest.raises(NotFoundError, match="never issued"):
        scorer.feedback("00000000-0000-4000-8000-000000000000", 1)


def test_explainer_reasons_sum_with_base_value_to_raw_score(
    setup: tuple[Scorer, ExplainerCore, Any],
) -> None:
    _, explainer, frame = setup
    apps = payloads(frame.iloc[:3])
    out = explainer.explain(apps)
    X = explainer.loaded.model.features.transform_records(apps)
    contributions = explainer.loaded.model.contributions_matrix(X)
    raw = explainer.loaded.model.estimator.booster_.predict(X, raw_score=True)
    np.testing.assert_allclose(contributions.sum(axis=1), raw, atol=1e-9)
    for explanation in out:
        values = [r["contribution"] for r in explanation["reasons"]]
        assert values == sorted(values, reverse=True) and all(v > 0 for v in values)
        assert len(values) <= 4


def _backend(setup: tuple[Scorer, ExplainerCore, Any]) -> ServingBackend:
    scorer, explainer, _ = setup

    async def explain(apps: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return explainer.explain(apps)

    return ServingBackend(
        scorer, explain, max_batch_rows=100, guard=dev_guard(scorer.settings.home)
    )


def test_backend_protocol_matches_rest_shapes(setup: tuple[Scorer, ExplainerCore, Any]) -> None:
    backend = _backend(setup)
    apps = payloads(setup[2].iloc[:3])
    batch = CallContext("predict_batch", "grpc")
    predictions = asyncio.run(backend.predict(apps, batch))
    assert [set(p) for p in predictions] == [
        {"prediction_id", "default_probability", "risk_category", "decision", "model_name",
         "model_version", "timestamp"}
    ] * 3  # fmt: skip
    explanation = asyncio.run(backend.explain(apps[0], CallContext("explain", "grpc")))
    assert {"reasons", "base_value", "prediction_id", "decision"} <= set(explanation)
    metadata = asyncio.run(backend.metadata(CallContext("metadata", "grpc")))
    assert metadata["model_version"] == "vrunner-test"
    outcome = {"prediction_id": predictions[0]["prediction_id"], "observed_default": 1}
    receipt = asyncio.run(backend.feedback(outcome, CallContext("feedback", "grpc")))
    assert receipt["observed_default"] == 1


def test_backend_rejects_bad_input_with_the_validation_cause(
    setup: tuple[Scorer, ExplainerCore, Any],
) -> None:
    backend = _backend(setup)
    apps = payloads(setup[2].iloc[:2])
    apps[1]["score_source_1"] = 2.0
    batch = CallContext("predict_batch", "grpc")
    with pytest.raises(
        RequestRejectedError, match=r"invalid input: applications\.1\.score_source_1"
    ) as e:
        asyncio.run(backend.predict(apps, batch))
    assert isinstance(e.value.__cause__, ValidationError)
    assert e.value.details[0]["loc"] == ["applications", 1, "score_source_1"]
    assert e.value.status_code == 422
    with pytest.raises(RequestRejectedError, match="from 1 to 100") as e:
        asyncio.run(backend.predict([], batch))
    assert e.value.details[0]["loc"] == ["applications"]
    with pytest.raises(RequestRejectedError, match="from 1 to 100"):
        asyncio.run(backend.predict(apps * 51, batch))
    outcome = {"prediction_id": "7e0e6d2c-2f7b-4c55-9b0a-3c1f7c1e0a11", "observed_default": 3}
    with pytest.raises(RequestRejectedError, match="observed_default"):
        asyncio.run(backend.feedback(outcome, CallContext("feedback", "grpc")))


def test_paused_scorer_refuses(setup: tuple[Scorer, ExplainerCore, Any]) -> None:
    from loan_default import control

    scorer, _, frame = setup
    home = Path(scorer.settings.home)
    control.pause(home, "operator says stop")
    try:
        with pytest.raises(UnavailableError, match="operator says stop"):
            scorer.score(payloads(frame.iloc[:1]), endpoint="predict")
    finally:
        control.resume(home)
