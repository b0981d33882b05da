"""Start a real ``bentoml serve`` of the service for a test, and stop it with all its workers."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
STARTUP_SECONDS = 180


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now: parallel test runs never share one."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _own_bentoml_home(shared: Path, log: Path) -> str:
    """A BentoML home of this server's own, sharing the model store: ``bentoml serve`` empties
    its home's Prometheus folder when it starts, which would wipe the metrics of a server
    already running from the same home."""
    own = log.parent / f"bentoml-home-{log.stem}"
    own.mkdir(parents=True, exist_ok=True)
    (shared / "models").mkdir(parents=True, exist_ok=True)
    if not (own / "models").exists():
        (own / "models").symlink_to(shared / "models", target_is_directory=True)
    return str(own)


@contextmanager
def bentoml_serve(
    model_tag: str,
    *,
    http_port: int,
    grpc_port: int,
    log: Path,
    env: Mapping[str, str] | None = None,
    tls: tuple[Path, Path] | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """``bentoml serve service:LoanDefaultService`` on 127.0.0.1, yielded once /readyz is 200.

    The server runs in its own process group, so stopping it stops its workers too; its output
    goes to ``log``, whose tail is shown if it dies or never becomes ready. With ``tls``
    (certificate, key) both transports serve TLS only.
    """
    environment = os.environ | {
        "LOAN_MODEL_TAG": model_tag,
        "LOAN_GRPC_HOST": "127.0.0.1",
        "LOAN_GRPC_PORT": str(grpc_port),
        "OMP_NUM_THREADS": "1",
        # Serving features are tested without tokens; tests/security serves with them.
        "LOAN_AUTH_MODE": "off",
        "LOAN_ENVIRONMENT": "development",
        **(env or {}),
    }
    environment["BENTOML_HOME"] = _own_bentoml_home(Path(environment["BENTOML_HOME"]), log)
    bentoml_cli = Path(sys.executable).with_name("bentoml")
    command = [str(bentoml_cli), "serve", "service:LoanDefaultService", "--host", "127.0.0.1"]
    scheme, verify = "http", True
    if tls is not None:
        cert, key = tls
        command += ["--ssl-certfile", str(cert), "--ssl-keyfile", str(key)]
        environment |= {"LOAN_TLS_CERT_FILE": str(cert), "LOAN_TLS_KEY_FILE": str(key)}
        scheme, verify = "https", False  # readiness only: the tests check the certificate
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*command, "--port", str(http_port)],
            cwd=ROOT,
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_until_ready(process, f"{scheme}://127.0.0.1:{http_port}", log, verify=verify)
        yield process
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _wait_until_ready(
    process: subprocess.Popen[bytes], url: str, log: Path, *, verify: bool = True
) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while True:
        if process.poll() is not None:
            pytest.fail(f"bentoml serve exited ({process.returncode}):\n{log.read_text()[-4000:]}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2, verify=verify).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"not ready in {STARTUP_SECONDS} s:\n{log.read_text()[-4000:]}")
        time.sleep(1)
