"""Readiness: the start-up canary, and the gRPC health service reporting it."""

from __future__ import annotations

import asyncio
import math
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from loan_default.grpc.client import LoanScoringClient
from loan_default.store import LoadedModel, load_model
from runners import readiness
from runners.grpc.server import start_server
from tests.runners.tiny_model import build


@pytest.fixture(scope="module")
def loaded() -> LoadedModel:
    return load_model(build(version="vreadiness-test")[0])


def test_a_model_that_answers_the_canary_is_ready(loaded: LoadedModel) -> None:
    result = readiness.check(loaded)
    assert result.ready and result.reason == ""
    assert result.canary_probability is not None and 0.0 < result.canary_probability < 1.0


def test_a_model_for_another_schema_is_not_ready(loaded: LoadedModel) -> None:
    other = loaded.metadata.model_copy(update={"schema_fingerprint": "0000"})
    result = readiness.check(replace(loaded, metadata=other))
    assert not result.ready and "schema 0000" in result.reason


class _Broken:
    """A model whose scoring fails or answers nonsense."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer

    def predict_proba_records(self, records: list[dict[str, Any]]) -> Any:
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (ValueError("Input X contains infinity"), "failed on the canary: ValueError"),
        (np.array([math.nan]), "not one probability"),
        (np.array([1.5]), "not one probability"),
        (np.array([0.2, 0.3]), "not one probability"),
    ],
)
def test_a_model_that_fails_the_canary_is_not_ready(
    loaded: LoadedModel, answer: Any, words: str
) -> None:
    broken = replace(loaded, model=_Broken(answer))  # type: ignore[arg-type]
    result = readiness.check(broken)
    assert not result.ready and words in result.reason


def test_grpc_health_reports_not_serving_when_not_ready() -> None:
    async def main() -> str:
        server = await start_server(object(), host="127.0.0.1", port=0, serving=False)  # type: ignore[arg-type]
        try:
            return await asyncio.to_thread(_health, server.target)
        finally:
            await server.stop(grace=0)

    assert asyncio.run(main()) == "NOT_SERVING"


def _health(target: str) -> str:
    with LoanScoringClient(target, timeout=10) as client:
        return client.health()
