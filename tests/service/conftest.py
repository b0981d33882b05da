"""HTTP tests of the service: the real BentoML app (``to_asgi()``) in-process, tiny real model."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pandas as pd
import pytest
from starlette.testclient import TestClient

from loan_default.model import ScoringModel
from loan_default.traffic import log_files
from tests.runners.tiny_model import build, payloads

MAX_BATCH_ROWS = 50


@dataclass
class Served:
    """The fixture model and where the service writes."""

    tag: str
    model: ScoringModel
    frame: pd.DataFrame
    home: Path

    @property
    def traffic(self) -> Path:
        return self.home / "traffic"

    def logged(self, kind: str = "predictions") -> list[dict[str, Any]]:
        import orjson

        return [
            orjson.loads(line)
            for path in log_files(self.traffic, kind)  # type: ignore[arg-type]
            for line in path.read_bytes().splitlines()
            if line
        ]

    def bodies(self, n: int, start: int = 0) -> list[dict[str, Any]]:
        return payloads(self.frame.iloc[start : start + n])


@pytest.fixture(scope="session")
def served(session_home: Path) -> Iterator[Served]:
    """Train and register the fixture model; point the service settings at it."""
    tag, model, frame = build(version="vservice-test")
    env = {
        "LOAN_MODEL_TAG": tag,
        "LOAN_GRPC_ENABLED": "false",
        "LOAN_PAUSE_CHECK_SECONDS": "0",
        "LOAN_MAX_BATCH_ROWS": str(MAX_BATCH_ROWS),
        "LOAN_AUTH_MODE": "off",  # serving features; tests/security serves with tokens
        "LOAN_ENVIRONMENT": "development",
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield Served(tag, model, frame.drop(columns=["default"]), session_home)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture(scope="session")
def client(served: Served) -> Iterator[TestClient]:
    """The service's own ASGI app (BentoML middleware, mounted routes, health, docs)."""
    import bentoml

    import service

    svc = cast("bentoml.Service[Any]", service.LoanDefaultService)
    with TestClient(svc.to_asgi()) as test_client:
        yield test_client
