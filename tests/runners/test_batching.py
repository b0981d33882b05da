"""In-worker adaptive batching: the calls of one event-loop turn are scored together."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from loan_default.errors import UnavailableError
from loan_default.traffic import Checkpoint, read_new
from runners.batching import MicroBatcher
from runners.loading import load_serving_model
from runners.scorer import Scorer, ScoreRequest
from runners.settings import ServingSettings
from tests.runners.tiny_model import build, payloads


class _Recorder:
    """A ``score_many`` that answers each application with its index, and remembers groups."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.groups: list[list[str | None]] = []
        self.fail_on = fail_on

    def __call__(self, requests: Sequence[ScoreRequest]) -> Any:
        self.groups.append([r.request_id for r in requests])
        if any(r.request_id == self.fail_on for r in requests):
            raise UnavailableError(f"{self.fail_on} is refused")
        return [[{"request": r.request_id, "row": i} for i in range(len(r.applications))]
                for r in requests]  # fmt: skip


def _call(rid: str, rows: int = 1) -> ScoreRequest:
    return ScoreRequest([{}] * rows, "predict", rid)


def test_calls_of_one_turn_share_one_scoring_call() -> None:
    recorder = _Recorder()
    batcher = MicroBatcher(recorder, max_rows=256)

    async def main() -> Any:
        return await asyncio.gather(*(batcher.score(_call(f"r{k}", rows=k + 1)) for k in range(5)))

    answers = asyncio.run(main())
    assert recorder.groups == [["r0", "r1", "r2", "r3", "r4"]]
    for k, answer in enumerate(answers):  # each caller gets its own rows, in order
        assert answer == [{"request": f"r{k}", "row": i} for i in range(k + 1)]


def test_a_lone_call_and_later_calls_are_scored_in_their_own_turns() -> None:
    recorder = _Recorder()
    batcher = MicroBatcher(recorder)

    async def main() -> None:
        await batcher.score(_call("first"))
        await asyncio.gather(batcher.score(_call("a")), batcher.score(_call("b")))

    asyncio.run(main())
    assert recorder.groups == [["first"], ["a", "b"]]


def test_a_full_group_is_scored_at_once() -> None:
    recorder = _Recorder()
    batcher = MicroBatcher(recorder, max_rows=4)

    async def main() -> None:
        await asyncio.gather(*(batcher.score(_call(f"r{k}", rows=2)) for k in range(5)))

    asyncio.run(main())
    assert recorder.groups == [["r0", "r1"], ["r2", "r3"], ["r4"]]


def test_one_failing_call_does_not_fail_the_others_of_its_group() -> None:
    recorder = _Recorder(fail_on="bad")
    batcher = MicroBatcher(recorder)

    async def main() -> list[Any]:
        calls = [batcher.score(_call(rid)) for rid in ("a", "bad", "c")]
        return await asyncio.gather(*calls, return_exceptions=True)

    a, bad, c = asyncio.run(main())
    assert a == [{"request": "a", "row": 0}] and c == [{"request": "c", "row": 0}]
    assert isinstance(bad, UnavailableError)
    assert recorder.groups == [["a", "bad", "c"], ["a"], ["bad"], ["c"]]


def test_a_caller_that_went_away_does_not_break_the_group() -> None:
    recorder = _Recorder()
    batcher = MicroBatcher(recorder)

    async def main() -> Any:
        gone = asyncio.ensure_future(batcher.score(_call("gone")))
        stays = asyncio.ensure_future(batcher.score(_call("stays")))
        await asyncio.sleep(0)  # both queued
        gone.cancel()
        return await stays

    assert asyncio.run(main()) == [{"request": "stays", "row": 0}]
    assert recorder.groups == [["gone", "stays"]]


@pytest.fixture(scope="module")
def scorer(tmp_path_factory: pytest.TempPathFactory) -> tuple[Scorer, Any]:
    tag, _, frame = build(version="vbatching-test")
    home = tmp_path_factory.mktemp("home")
    settings = ServingSettings(model_tag=tag, home=home, pause_check_seconds=0)
    return Scorer(load_serving_model(settings), settings), frame.drop(columns=["default"])


def test_score_many_answers_and_logs_each_call_as_scoring_it_alone(
    scorer: tuple[Scorer, Any],
) -> None:
    model_scorer, frame = scorer
    apps = payloads(frame.iloc[:7])
    calls = [
        ScoreRequest(apps[:1], "predict", "one"),
        ScoreRequest(apps[1:], "predict_batch", "six"),
    ]
    one, six = model_scorer.score_many(calls)
    assert len(one) == 1 and len(six) == 6
    alone = model_scorer.model.predict_proba_records(apps)
    np.testing.assert_allclose([r["default_probability"] for r in one + six], alone, rtol=1e-12)
    records, _ = read_new(Path(model_scorer.settings.traffic_path), "predictions", Checkpoint())
    logged = {r["prediction_id"]: r for r in records}
    for result, app, (endpoint, rid) in zip(
        one + six, apps, [("predict", "one")] + [("predict_batch", "six")] * 6, strict=True
    ):
        record = logged[result["prediction_id"]]
        assert (record["endpoint"], record["request_id"]) == (endpoint, rid)
        assert record["application"] == app
        assert model_scorer.feedback(result["prediction_id"], 0)["model_version"]


def test_a_large_call_is_scored_in_slices_in_order(
    scorer: tuple[Scorer, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from loan_default.api import CallContext, LoanApplication
    from runners import backend as backend_module
    from runners.backend import ServingBackend

    model_scorer, frame = scorer
    monkeypatch.setattr(backend_module, "SLICE_ROWS", 120)
    apps = payloads(frame.iloc[:300])
    valid = [LoanApplication.model_validate(app) for app in apps]
    backend = ServingBackend(model_scorer, _no_explainer, max_batch_rows=10_000)
    calls: list[int] = []
    score_many = model_scorer.score_many

    def counting(requests: Sequence[ScoreRequest]) -> Any:
        calls.append(len(requests[0].applications))
        return score_many(requests)

    monkeypatch.setattr(model_scorer, "score_many", counting)
    ctx = CallContext("predict_batch", "rest", "big")
    answers = asyncio.run(backend.predict(valid, ctx))
    assert calls == [120, 120, 60]
    expected = model_scorer.model.predict_proba_records([v.__dict__ for v in valid])
    np.testing.assert_allclose([a["default_probability"] for a in answers], expected, rtol=1e-12)
    records, _ = read_new(Path(model_scorer.settings.traffic_path), "predictions", Checkpoint())
    assert {r["prediction_id"] for r in records if r["request_id"] == "big"} == {
        a["prediction_id"] for a in answers
    }


async def _no_explainer(applications: list[dict[str, Any]]) -> list[dict[str, Any]]:
    raise AssertionError("not called")
