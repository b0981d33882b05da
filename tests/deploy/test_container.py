"""The real container: ``make container`` builds the image from a Bento, and this test runs it.

It checks what an orchestrator relies on: the probes, REST and gRPC scoring, a non-root user, a
read-only root filesystem, configuration from the environment only, the traffic log on a
mounted volume, and a SIGTERM under load that loses no answered decision. Cold, the build takes
10-25 minutes on the vfs storage driver (docs/deployment.md), so it is not part of ``make
test``: ``make test-container`` runs it (marker ``container``).
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from loan_default.data.generate import generate_applications
from loan_default.grpc.client import LoanScoringClient
from loan_default.traffic import log_files
from tests.integration.serving import ROOT, free_port
from tests.runners.tiny_model import payloads

# The build alone takes longer than the suite's 600 s per-test timeout.
pytestmark = [pytest.mark.slow, pytest.mark.container, pytest.mark.timeout(5400)]

MODEL_VERSION = "vcontainer"
IMAGE = f"loan-default:test-{uuid.uuid4().hex[:8]}"
HTTP_PORT = free_port()
GRPC_PORT = free_port()
BUILD_SECONDS = 3600
STARTUP_SECONDS = 300


def _docker(*args: str, check: bool = True, timeout: float = 120) -> str:
    result = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and result.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout.strip()


@pytest.fixture(scope="module")
def image(session_home: Path) -> Iterator[str]:
    """``make container`` on a tiny model in this session's Bento store; removed after."""
    from tests.runners.tiny_model import build

    tag, _, _ = build(version=MODEL_VERSION)
    var = session_home / "make"
    environment = os.environ | {"LOAN_MODEL_TAG": tag}
    result = subprocess.run(
        ["make", "--no-print-directory", "container", f"IMAGE={IMAGE}", f"VAR={var}"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=BUILD_SECONDS,
        check=False,
    )
    print(result.stdout[-3000:])
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    yield IMAGE
    _docker("rmi", "-f", IMAGE, check=False)


@pytest.fixture(scope="module")
def traffic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The host folder mounted as the traffic volume, writable by the image's user."""
    folder = tmp_path_factory.mktemp("traffic")
    folder.chmod(0o777)  # the container's uid (1034) is not the test's
    return folder


@pytest.fixture(scope="module")
def container(image: str, traffic: Path) -> Iterator[str]:
    """The image run read-only, as its own user, configured by environment variables only."""
    name = f"loan-default-test-{uuid.uuid4().hex[:8]}"
    env = {
        "BENTOML_HOST": "127.0.0.1",  # --network host: stay on loopback
        "BENTOML_PORT": str(HTTP_PORT),
        "LOAN_GRPC_HOST": "127.0.0.1",
        "LOAN_GRPC_PORT": str(GRPC_PORT),
        "LOAN_MODEL_TAG": f"loan_default:{MODEL_VERSION}",
        "LOAN_TRAFFIC_DIR": "/var/lib/loan/traffic",
        # Never contacted (the model tag is given); shows the setting reaches the container.
        "LOAN_MLFLOW_TRACKING_URI": "http://127.0.0.1:9/mlflow",
        "LOAN_PAUSE_CHECK_SECONDS": "0",
    }
    args = ["run", "-d", "--name", name, "--network", "host", "--read-only"]
    args += ["--tmpfs", "/tmp", "--tmpfs", "/home/bentoml/tmp:uid=1034,gid=1034"]
    args += ["-v", f"{traffic}:/var/lib/loan/traffic"]
    for key, value in env.items():
        args += ["-e", f"{key}={value}"]
    _docker(*args, image)
    try:
        _wait_ready(name)
        yield name
    finally:
        print(_docker("logs", "--tail", "60", name, check=False))
        _docker("rm", "-f", name, check=False)


def _wait_ready(name: str) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if _docker("inspect", "-f", "{{.State.Running}}", name) != "true":
            raise AssertionError(f"container exited:\n{_docker('logs', name, check=False)}")
        try:
            if httpx.get(f"http://127.0.0.1:{HTTP_PORT}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(2)
    raise AssertionError(f"not ready in {STARTUP_SECONDS} s:\n{_docker('logs', name, check=False)}")


@pytest.fixture(scope="module")
def bodies() -> list[dict]:
    return payloads(generate_applications(300, seed=5))


def test_runs_as_the_non_root_user_with_env_settings(container: str) -> None:
    assert _docker("exec", container, "id", "-u") == "1034"
    env = _docker("exec", container, "env")
    assert "LOAN_MODEL_TAG=loan_default:vcontainer" in env
    assert "LOAN_MLFLOW_TRACKING_URI=http://127.0.0.1:9/mlflow" in env
    # The root filesystem is read-only: the service runs with nothing writable but its volumes.
    denied = subprocess.run(
        ["docker", "exec", container, "touch", "/home/bentoml/bento/x"],
        capture_output=True,
        check=False,
    )
    assert denied.returncode != 0


def test_probes_rest_and_grpc_answer(container: str, bodies: list[dict]) -> None:
    assert httpx.get(f"http://127.0.0.1:{HTTP_PORT}/livez", timeout=5).status_code == 200
    assert httpx.get(f"http://127.0.0.1:{HTTP_PORT}/readyz", timeout=5).status_code == 200
    answer = httpx.post(f"http://127.0.0.1:{HTTP_PORT}/v1/predict", json=bodies[0], timeout=30)
    assert answer.status_code == 200, answer.text
    assert 0 <= answer.json()["default_probability"] <= 1
    meta = httpx.get(f"http://127.0.0.1:{HTTP_PORT}/v1/metadata", timeout=10).json()
    assert meta["model_version"] == MODEL_VERSION
    bad = httpx.post(
        f"http://127.0.0.1:{HTTP_PORT}/v1/predict",
        json={**bodies[0], "score_source_1": 1.5},
        timeout=30,
    )
    assert bad.status_code == 422 and "score_source_1" in bad.text
    with LoanScoringClient(f"127.0.0.1:{GRPC_PORT}", timeout=30) as client:
        client.wait_ready(timeout=30)
        assert client.health() == "SERVING"
        grpc_answer = client.predict(bodies[0])
    assert grpc_answer["default_probability"] == pytest.approx(answer.json()["default_probability"])


def test_sigterm_under_load_loses_no_answered_decision(
    container: str, traffic: Path, bodies: list[dict]
) -> None:
    answered: list[str] = []
    refused: list[int] = []
    stop = threading.Event()

    def caller(offset: int) -> None:
        with httpx.Client(timeout=30) as client:
            i = offset
            while not stop.is_set():
                try:
                    reply = client.post(
                        f"http://127.0.0.1:{HTTP_PORT}/v1/predict", json=bodies[i % len(bodies)]
                    )
                except httpx.TransportError:
                    time.sleep(0.05)  # refused once the server stops listening
                    continue
                if reply.status_code == 200:
                    answered.append(reply.json()["prediction_id"])
                else:
                    refused.append(reply.status_code)
                i += 4

    threads = [threading.Thread(target=caller, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(3)
    before_stop = len(answered)
    started = time.monotonic()
    _docker("stop", "--time", "60", container, timeout=90)  # SIGTERM, SIGKILL after 60 s
    stopped_in = time.monotonic() - started
    stop.set()
    for thread in threads:
        thread.join()
    assert before_stop > 10, "no load before the SIGTERM"
    assert stopped_in < 55, f"no graceful stop: killed after {stopped_in:.0f} s"
    state = _docker("inspect", "-f", "{{.State.ExitCode}} {{.State.OOMKilled}}", container)
    assert state.split()[1] == "false"
    assert set(refused) <= {503}, refused  # stopping: refused, never a server error
    logged = {
        orjson.loads(line)["prediction_id"]
        for path in log_files(traffic, "predictions")
        for line in path.read_bytes().splitlines()
        if line
    }
    missing = set(answered) - logged
    assert not missing, f"{len(missing)} of {len(answered)} answered decisions not in the log"
