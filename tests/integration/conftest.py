"""A real ``bentoml serve`` of the service (2 API workers + the explainer) on the fixture model."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import bentoml
import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
HTTP_PORT = 3150
GRPC_PORT = 3151
STARTUP_SECONDS = 180


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
    """``bentoml serve service:LoanDefaultService`` on 127.0.0.1:3150; stopped afterwards."""
    from tests.runners.tiny_model import build

    tag, _, _ = build(version="vintegration")
    log = tmp_path_factory.mktemp("serve") / "bentoml.log"
    env = os.environ | {
        "LOAN_MODEL_TAG": tag,
        "LOAN_GRPC_PORT": str(GRPC_PORT),
        "LOAN_PAUSE_CHECK_SECONDS": "0",
        "OMP_NUM_THREADS": "1",
    }
    bentoml_cli = Path(sys.executable).with_name("bentoml")
    command = [str(bentoml_cli), "serve", "service:LoanDefaultService", "--host", "127.0.0.1"]
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*command, "--port", str(HTTP_PORT)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{HTTP_PORT}"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if process.poll() is not None:
                pytest.fail(f"bentoml serve exited ({process.returncode}):\n{log.read_text()}")
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"not ready in {STARTUP_SECONDS} s:\n{log.read_text()[-4000:]}")
            time.sleep(1)
        yield RunningService(url, process, session_home, log)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
