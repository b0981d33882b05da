"""A real ``bentoml serve`` of the service (2 API workers + the explainer) on the fixture model."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import bentoml
import pytest

from tests.integration.serving import bentoml_serve, free_port

HTTP_PORT = free_port()
GRPC_PORT = free_port()


@dataclass
class RunningService:
    """A served service: its URL, process and where it writes."""

    url: str
    process: subprocess.Popen[bytes]
    home: Path
    log: Path

    def client(self) -> bentoml.SyncHTTPClient:
        return bentoml.SyncHTTPClient(self.url, timeout=30)


@pytest.fixture(scope="session")
def http_server(
    session_home: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningService]:
    """``bentoml serve service:LoanDefaultService`` on a free local port; stopped after."""
    from tests.runners.tiny_model import build

    tag, _, _ = build(version="vintegration")
    log = tmp_path_factory.mktemp("serve") / "bentoml.log"
    env = {"LOAN_PAUSE_CHECK_SECONDS": "0"}
    with bentoml_serve(tag, http_port=HTTP_PORT, grpc_port=GRPC_PORT, log=log, env=env) as process:
        yield RunningService(f"http://127.0.0.1:{HTTP_PORT}", process, session_home, log)
